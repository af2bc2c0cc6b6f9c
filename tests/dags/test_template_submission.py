"""`learnosity_template_submission` end to end: real Airflow runs against the emulator."""

from __future__ import annotations

import csv
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from airflow.utils.state import DagRunState

from learnosity_core.content.question_types import count_characters, encode_text
from learnosity_core.dataapi import DataApiClient, DataApiSettings
from learnosity_core.template_submission.transform import derive_session_id
from learnosity_devtools.emulator import Faults
from learnosity_devtools.emulator.api import HALT_REASON
from learnosity_devtools.emulator.seed import demo_templates

DAG_ID = "learnosity_template_submission"
BOTH_JOB_SHAPES = pytest.mark.parametrize(
    "emulator_job_detail", [False, True], ids=["documented-jobs", "detailed-jobs"]
)


def _set_requests(pipeline: Any) -> int:
    return sum(pipeline.emulator.stats()["requests"].get("set /sessions", {}).values())


def _quarantine_rows(pipeline: Any) -> list[dict[str, str]]:
    (path,) = pipeline.reports.rglob("quarantine.csv")
    with path.open() as handle:
        return list(csv.DictReader(handle))


@BOTH_JOB_SHAPES
def test_clean_run_stores_every_valid_session_and_quarantines_the_rest(
    sqlite_pipeline: Any, run_dag: Callable[..., Any]
) -> None:
    run = run_dag(DAG_ID, batch_size=7)
    assert run.state == DagRunState.SUCCESS
    sqlite_pipeline.assert_exactly_once()

    ghost = "activity-not-in-learnosity"  # no template in Learnosity: the activity is held back
    quarantined = _quarantine_rows(sqlite_pipeline)
    held_back = {(r["activity_id"], r["user_id"]) for r in quarantined}
    assert held_back == {k for k in sqlite_pipeline.rows.attrs["invalid_sessions"] if k[0] != ghost}
    assert {"unknown_question", "type_conflict"} <= {r["reason"] for r in quarantined}
    # Conservation: every input row is in a stored session, in the quarantine, or held back.
    rows = sqlite_pipeline.rows
    waiting = rows["activity_id"] == ghost
    keys = zip(rows["activity_id"], rows["user_id"], strict=True)
    sent_rows = rows[[k not in held_back and k[0] != ghost for k in keys]]
    assert len(sent_rows) + len(quarantined) + int(waiting.sum()) == len(rows)

    ledger_rows = sqlite_pipeline.ledger().sessions_of_run(run.run_id)
    completed = [r for r in ledger_rows if r.status == "completed"]
    assert len(completed) == len(sqlite_pipeline.valid_sessions())
    assert all(r.verified for r in completed)
    (report,) = sqlite_pipeline.reports.rglob("report.html")
    assert "<svg" in report.read_text() and "unknown_question" in report.read_text()
    assert "Held back" in report.read_text() and ghost in report.read_text()


def test_rerun_sends_nothing_and_a_changed_row_resends_only_its_session(
    sqlite_pipeline: Any, run_dag: Callable[..., Any]
) -> None:
    assert run_dag(DAG_ID).state == DagRunState.SUCCESS
    before = sqlite_pipeline.writes()
    sets_before = _set_requests(sqlite_pipeline)

    assert run_dag(DAG_ID, window_start="2000-01-01T00:00:00Z").state == DagRunState.SUCCESS
    assert sqlite_pipeline.writes() == before, "a rerun over the same content must send nothing"
    assert _set_requests(sqlite_pipeline) == sets_before, "not even a request"

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
            {"a": activity, "u": user, "q": question, "t": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")},
        )
    assert run_dag(DAG_ID).state == DagRunState.SUCCESS
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


@pytest.mark.parametrize(
    ("emulator_job_detail", "reason"),
    [(False, "no reason given"), (True, HALT_REASON)],
    ids=["documented-jobs", "detailed-jobs"],
)
def test_a_halted_job_fails_the_run_and_the_next_run_completes_it(
    sqlite_pipeline: Any, run_dag: Callable[..., Any], reason: str
) -> None:
    sqlite_pipeline.emulator.set_faults(Faults(halt_jobs=1))
    first = run_dag(DAG_ID, batch_size=10)
    assert first.state == DagRunState.FAILED
    failed = [r for r in sqlite_pipeline.ledger().sessions_of_run(first.run_id) if r.status == "failed"]
    assert failed and all("halted" in r.error for r in failed)
    assert all(r.error.endswith(f"halted: {reason}") for r in failed)
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


def _squat(pipeline: Any, activity: str, question: str, session_id: str) -> None:
    """Store, under `session_id`, another learner's session: the Data API then refuses ours."""
    text = "written by someone else"
    squatter = {
        "user_id": "someone-else",
        "activity_id": activity,
        "session_id": session_id,
        "responses": [
            {
                "question_id": question,
                "type": "string",
                "value": encode_text(text),
                "characterCount": count_characters(text),
            }
        ],
    }
    settings = DataApiSettings(
        base_url=pipeline.emulator.url,
        consumer_key="emulatordemokey1",
        consumer_secret="emulator-demo-secret",
    )
    with DataApiClient(settings) as client:
        reference = client.submit_template_sessions(demo_templates()[activity], [squatter])
        deadline = time.monotonic() + 10
        while not client.get_jobs([reference])[0].status.is_terminal:
            assert time.monotonic() < deadline, "the squatter's job did not finish"
            time.sleep(0.02)
    assert [s["user_id"] for s in pipeline.stored()] == ["someone-else"]


@pytest.mark.parametrize(
    ("emulator_job_detail", "found_by"),
    [(False, "on read-back"), (True, "already belongs to user 'someone-else'")],
    ids=["documented-jobs-read-back-finds-it", "detailed-jobs-say-so"],
)
def test_a_session_the_api_refused_fails_the_run_and_the_next_run_sends_it_again(
    sqlite_pipeline: Any, run_dag: Callable[..., Any], found_by: str
) -> None:
    rows = sqlite_pipeline.rows
    shorttext = rows[rows["question_type"] == "shorttext"]
    activity, user, question = next(
        (a, u, q)
        for a, u, q in zip(
            shorttext["activity_id"], shorttext["user_id"], shorttext["question_id"], strict=True
        )
        if (a, u) in sqlite_pipeline.valid_sessions()
    )
    refused = derive_session_id(activity, user)
    _squat(sqlite_pipeline, activity, question, refused)

    first = run_dag(DAG_ID)
    assert first.state == DagRunState.FAILED
    ledger_rows = {r.session_id: r for r in sqlite_pipeline.ledger().sessions_of_run(first.run_id)}
    row = ledger_rows.pop(refused)
    assert row.status == "failed" and found_by in str(row.error)
    assert row.verified is (False if found_by == "on read-back" else None)
    sent = [r for r in ledger_rows.values() if r.status != "quarantined"]
    assert sent and all(r.status == "completed" and r.verified for r in sent)
    (report,) = sqlite_pipeline.reports.rglob("report.html")
    assert refused in report.read_text()
    stored = {s["session_id"]: s["user_id"] for s in sqlite_pipeline.stored()}
    assert stored[refused] == "someone-else", "the API kept the other learner's session"

    assert sqlite_pipeline.emulator.app.delete_session(refused)  # whoever owned the id gave it up
    before = sqlite_pipeline.writes()
    second = run_dag(DAG_ID)
    assert second.state == DagRunState.SUCCESS
    after = sqlite_pipeline.writes()
    assert {sid for sid in after if after[sid] != before.get(sid)} == {refused}, "only it is sent again"
    resent = [r for r in sqlite_pipeline.ledger().sessions_of_run(second.run_id) if r.status != "quarantined"]
    assert [(r.session_id, r.status, r.verified) for r in resent] == [(refused, "completed", True)]
    sqlite_pipeline.assert_exactly_once()


def test_staged_learner_data_is_gone_after_a_successful_run(
    sqlite_pipeline: Any, run_dag: Callable[..., Any]
) -> None:
    run = run_dag(DAG_ID)
    assert run.state == DagRunState.SUCCESS
    dag_stage = sqlite_pipeline.stage / DAG_ID
    assert [p for p in dag_stage.rglob("*") if p.is_file()] == [], "no staged batch outlives a successful run"
    (quarantine_csv,) = sqlite_pipeline.reports.rglob("quarantine.csv")
    assert quarantine_csv.stat().st_mode & 0o077 == 0, "the quarantine copy is readable by its owner only"
