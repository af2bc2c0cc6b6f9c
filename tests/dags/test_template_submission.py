"""`learnosity_template_submission` end to end: real Airflow runs against the emulator."""

from __future__ import annotations

import csv
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from airflow.utils.state import DagRunState

from learnosity_devtools.emulator import Faults

DAG_ID = "learnosity_template_submission"


def _quarantine_rows(pipeline: Any) -> list[dict[str, str]]:
    (path,) = pipeline.reports.rglob("quarantine.csv")
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_clean_run_stores_every_valid_session_and_quarantines_the_rest(
    sqlite_pipeline: Any, run_dag: Callable[..., Any]
) -> None:
    run = run_dag(DAG_ID, batch_size=7)
    assert run.state == DagRunState.SUCCESS
    sqlite_pipeline.assert_exactly_once()

    quarantined = _quarantine_rows(sqlite_pipeline)
    held_back = {(r["activity_id"], r["user_id"]) for r in quarantined}
    assert held_back == sqlite_pipeline.rows.attrs["invalid_sessions"]
    assert {"unknown_activity", "unknown_question", "type_conflict"} <= {r["reason"] for r in quarantined}
    # Conservation: every input row is in a stored session or in the quarantine.
    rows = sqlite_pipeline.rows
    sent_rows = rows[[k not in held_back for k in zip(rows["activity_id"], rows["user_id"], strict=True)]]
    assert len(sent_rows) + len(quarantined) == len(rows)

    ledger_rows = sqlite_pipeline.ledger().sessions_of_run(run.run_id)
    completed = [r for r in ledger_rows if r.status == "completed"]
    assert len(completed) == len(sqlite_pipeline.valid_sessions())
    assert all(r.verified for r in completed)
    (report,) = sqlite_pipeline.reports.rglob("report.html")
    assert "<svg" in report.read_text() and "unknown_question" in report.read_text()


def test_rerun_sends_nothing_and_a_changed_row_resends_only_its_session(
    sqlite_pipeline: Any, run_dag: Callable[..., Any]
) -> None:
    assert run_dag(DAG_ID).state == DagRunState.SUCCESS
    before = sqlite_pipeline.writes()

    assert run_dag(DAG_ID, window_start="2000-01-01T00:00:00Z").state == DagRunState.SUCCESS
    assert sqlite_pipeline.writes() == before, "a rerun over the same content must send nothing"

    rows = sqlite_pipeline.rows
    shorttext = rows[rows["question_type"] == "shorttext"]
    activity, user, question = next(
        (a, u, q)
        for a, u, q in zip(
            shorttext["activity_id"], shorttext["user_id"], shorttext["question_id"], strict=True
        )
        if (a, u) in sqlite_pipeline.valid_sessions()
    )
    with sqlite_pipeline.warehouse.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE learnosity_responses SET response = 'a corrected answer', updated_at = :t"
                " WHERE activity_id = :a AND user_id = :u AND question_id = :q"
            ),
            {"a": activity, "u": user, "q": question, "t": "2099-01-01 00:00:00"},
        )
    assert run_dag(DAG_ID, window_end="2100-01-01T00:00:00Z").state == DagRunState.SUCCESS
    after = sqlite_pipeline.writes()
    changed = {sid for sid in after if after[sid] != before.get(sid)}
    assert len(changed) == 1
    (stored,) = [s for s in sqlite_pipeline.stored() if s["session_id"] in changed]
    assert (stored["activity_id"], stored["user_id"]) == (activity, user)
    sqlite_pipeline.assert_exactly_once()


def test_dry_run_sends_nothing(sqlite_pipeline: Any, run_dag: Callable[..., Any]) -> None:
    run = run_dag(DAG_ID, dry_run=True)
    assert run.state == DagRunState.SUCCESS
    assert sqlite_pipeline.stored() == []
    assert _quarantine_rows(sqlite_pipeline), "a dry run still reports the quarantine"


def test_postgres_warehouse(postgres_pipeline: Any, run_dag: Callable[..., Any]) -> None:
    assert run_dag(DAG_ID, batch_size=50).state == DagRunState.SUCCESS
    postgres_pipeline.assert_exactly_once()


@pytest.mark.parametrize(
    "faults",
    [
        pytest.param(Faults(error_rate=0.3, seed=11), id="5xx"),
        pytest.param(Faults(burst_429=6), id="429-burst"),
        pytest.param(Faults(drop_after_commit=2), id="dropped-after-commit"),
    ],
)
def test_faults_end_with_every_valid_session_stored_once(
    sqlite_pipeline: Any, run_dag: Callable[..., Any], faults: Faults
) -> None:
    sqlite_pipeline.emulator.set_faults(faults)
    assert run_dag(DAG_ID, batch_size=10).state == DagRunState.SUCCESS
    sqlite_pipeline.assert_exactly_once()


def test_a_halted_job_fails_the_run_and_the_next_run_completes_it(
    sqlite_pipeline: Any, run_dag: Callable[..., Any]
) -> None:
    sqlite_pipeline.emulator.set_faults(Faults(halt_jobs=1))
    first = run_dag(DAG_ID, batch_size=10)
    assert first.state == DagRunState.FAILED
    failed = [r for r in sqlite_pipeline.ledger().sessions_of_run(first.run_id) if r.status == "failed"]
    assert failed and all("halted" in r.error for r in failed)
    (report,) = sqlite_pipeline.reports.rglob("report.html")
    assert "halted" in report.read_text()

    sqlite_pipeline.emulator.set_faults(Faults())
    assert run_dag(DAG_ID, batch_size=10).state == DagRunState.SUCCESS
    sqlite_pipeline.assert_exactly_once()


def test_an_emulator_restart_mid_run_loses_nothing(sqlite_pipeline: Any, run_dag: Callable[..., Any]) -> None:
    emulator = sqlite_pipeline.emulator
    emulator.set_faults(Faults(set_latency_s=0.2))
    restarted = threading.Event()

    def restart_after_first_job() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not emulator.stats()["jobs"]:
            time.sleep(0.05)
        emulator.restart(downtime_s=1.5)
        restarted.set()

    watcher = threading.Thread(target=restart_after_first_job, daemon=True)
    watcher.start()
    assert run_dag(DAG_ID, batch_size=5).state == DagRunState.SUCCESS
    watcher.join(timeout=5)
    assert restarted.is_set()
    sqlite_pipeline.assert_exactly_once()
