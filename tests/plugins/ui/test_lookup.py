"""A learner or session lookup lists each delivery attempt from the ledger's history; no match says so."""

from __future__ import annotations

from typing import Any

import pytest

from learnosity_core.delivery.ledger import Ledger, SessionEntry, SessionOutcome, SessionStatus

DAG_ID = "learnosity_template_submission"


@pytest.fixture
def delivered(ledger: Ledger) -> Ledger:
    """Learner u7's session: failed in run-1, delivered and verified in run-2."""
    outcomes = {
        "job-1": SessionOutcome("s-7", SessionStatus.FAILED, "invalid_value"),
        "job-2": SessionOutcome("s-7", SessionStatus.COMPLETED),
    }
    for run, batch, job in (("run-1", "b1", "job-1"), ("run-2", "b2", "job-2")):
        ledger.stage(DAG_ID, run, batch, [SessionEntry("s-7", f"h-{run}", "act-1", "u7")], data_format="x")
        ledger.record_submission(batch, job)
        ledger.record_job(job, "completed", [outcomes[job]])
    ledger.record_verification({"s-7": None})
    return ledger


@pytest.mark.parametrize("query", ["learner=u7", "session=s-7", "learner=u7&session=s-7"])
def test_every_attempt_is_listed_with_where_it_went(
    api: Any, auth: dict[str, str], delivered: Ledger, query: str
) -> None:
    response = api.get(f"/learnosity/lookup?{query}", headers=auth)
    assert response.status_code == 200
    page = response.text
    assert "1 session(s) recorded for" in page and "<h2>Session s-7</h2>" in page
    assert "Now: <strong>completed, verified</strong>" in page
    rows = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0].split("<tr>")[1:]
    cells = [[c.split("</td>")[0] for c in row.split("<td>")[1:]] for row in rows]
    run_1, run_2 = (
        f'<a href="/learnosity/runs/{DAG_ID}/{run}/report">{DAG_ID}: {run}</a>' for run in ("run-1", "run-2")
    )
    assert [(c[1], c[2], c[3], c[4], c[5]) for c in cells] == [
        (run_1, "b1", "-", "staged", ""),
        (run_1, "b1", "job-1", "submitted", ""),
        (run_1, "b1", "job-1", "failed", "invalid_value"),
        (run_2, "b2", "-", "staged", ""),
        (run_2, "b2", "job-2", "submitted", ""),
        (run_2, "b2", "job-2", "completed", ""),
        (run_2, "b2", "job-2", "completed, verified", ""),
    ]
    assert all(c[0].endswith(" UTC") for c in cells)


def test_no_match_says_so(api: Any, auth: dict[str, str], delivered: Ledger) -> None:
    response = api.get("/learnosity/lookup?learner=nobody", headers=auth)
    assert response.status_code == 200
    assert '<p class="no-match">Nothing recorded for learner nobody.</p>' in response.text
    assert "s-7" not in response.text


def test_an_empty_lookup_explains_itself(api: Any, auth: dict[str, str], delivered: Ledger) -> None:
    response = api.get("/learnosity/lookup?learner=+&session=", headers=auth)
    assert "Name a learner's user_id or a session_id" in response.text


def test_what_was_typed_is_shown_as_text(api: Any, auth: dict[str, str], delivered: Ledger) -> None:
    response = api.get("/learnosity/lookup", params={"learner": "<script>x</script>"}, headers=auth)
    assert "<script>x</script>" not in response.text
    assert "Nothing recorded for learner &lt;script&gt;x&lt;/script&gt;." in response.text
