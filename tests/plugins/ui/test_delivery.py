"""The delivery page lists the pipelines' recent runs with their counts, report links and, while a
run is going, its counters from the ledger."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from learnosity_core.delivery.ledger import Ledger, SessionEntry
from learnosity_core.delivery.staging import safe_name

DAG_ID = "learnosity_template_submission"


def _row(html: str, run_id: str) -> str:
    """The table row of one run."""
    match = re.search(r"<tr>((?:(?!</tr>).)*?" + re.escape(run_id) + r".*?)</tr>", html, re.S)
    assert match, f"{run_id} not listed"
    return match.group(1)


def test_finished_running_and_failed_runs_each_say_what_they_did(
    api: Any,
    auth: dict[str, str],
    reports: Path,
    ledger: Ledger,
    add_run: Callable[..., str],
) -> None:
    replay = "learnosity_failed_submission_replay"
    done = add_run(replay, "success")
    folder = reports / replay / safe_name(done)
    folder.mkdir(parents=True)
    (folder / "report.html").write_text("<h1>report</h1>")
    (folder / "quarantine.csv").write_text("x\n")
    totals = {"completed": 7, "failed": 1, "invalid": 2}
    (folder / "outcome.json").write_text(
        json.dumps({"dag_id": replay, "run_id": done, "report": "r", "totals": totals, "failed": 1})
    )
    running = add_run("learnosity_template_submission", "running")
    entries = [SessionEntry(f"s{i}", "h", "act-1", f"u{i}") for i in range(4)]
    ledger.stage(DAG_ID, running, "b1", entries, data_format="from_template", activity_id="act-1")
    dry = add_run("learnosity_template_submission", "success", conf={"dry_run": True})
    dry_folder = reports / "learnosity_template_submission" / safe_name(dry)
    dry_folder.mkdir(parents=True)
    dry_totals = {"sessions_staged": 80, "rows_quarantined": 3, "completed": 0}
    (dry_folder / "outcome.json").write_text(
        json.dumps({"dag_id": "learnosity_template_submission", "run_id": dry, "totals": dry_totals})
    )
    no_report = add_run("learnosity_template_submission", "success", conf={"dry_run": "true"})
    failed = add_run("learnosity_template_reconcile", "failed")
    elsewhere = add_run("learnosity_connection_check", "success")

    response = api.get("/learnosity/", headers=auth)

    assert response.status_code == 200
    page = response.text
    row = _row(page, done)
    assert "7 delivered, 1 failed, 2 held back" in row
    run_url = f"/learnosity/runs/{replay}/{quote(done, safe='')}"
    assert f'href="{run_url}/report"' in row
    assert f'href="{run_url}/files/quarantine.csv"' in row
    assert f'href="/dags/{replay}/runs/{quote(done, safe="")}"' in row  # the run in Airflow
    assert "run progress: 4 sessions planned, 0 sent (0%)" in _row(page, running)
    assert "still going" in _row(page, running)
    assert "(dry run)" in _row(page, dry)
    assert "dry run, nothing sent: 80 sessions would be sent, 3 held back" in _row(page, dry)
    assert "This dry run wrote no report." in _row(page, no_report)
    assert "failed before its report task wrote a report" in _row(page, failed)
    assert elsewhere not in page  # only the pipelines that write reports
