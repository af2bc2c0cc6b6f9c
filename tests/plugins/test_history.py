"""`make history`: a learner's or a session's deliveries, read from the ledger the DAGs use."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from learnosity_core.delivery.ledger import Ledger, SessionEntry, SessionOutcome, SessionStatus
from learnosity_provider.history import main

DAG_ID = "learnosity_template_submission"


@pytest.fixture
def ledger(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Ledger:
    path = tmp_path / "ledger.db"
    monkeypatch.setenv(
        "AIRFLOW_CONN_LEARNOSITY_STATE", json.dumps({"conn_type": "sqlite", "host": str(path)})
    )
    ledger = Ledger.from_url(f"sqlite:///{path}")
    ledger.stage(
        DAG_ID, "run-1", "b1", [SessionEntry("s1", "abcdef0123456789", "act-1", "learner-7")], data_format="x"
    )
    ledger.record_submission("b1", "job-1")
    ledger.record_job("job-1", "completed", [SessionOutcome("s1", SessionStatus.COMPLETED)])
    ledger.record_verification({"s1": None})
    return ledger


def test_a_learners_deliveries_are_listed_oldest_first(
    ledger: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--user", "learner-7"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(": ", 1)[1].split(";")[0] for line in lines] == [
        "staged",
        "submitted",
        "completed",
        "completed, verified",
    ]
    assert f"{DAG_ID} run run-1, job job-1" in lines[-1] and "content abcdef012345" in lines[-1]
    assert "session s1 (user learner-7, activity act-1)" in lines[0]


def test_a_lookup_without_a_match_says_so(ledger: Ledger, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--session", "no-such-session"]) == 0
    assert capsys.readouterr().out.strip() == "Nothing recorded for session no-such-session"


def test_one_of_user_or_session_is_required() -> None:
    with pytest.raises(SystemExit):
        main([])
