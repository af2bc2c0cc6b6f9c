"""`learnosity_template_submission` end to end: real Airflow runs against the emulator."""

from __future__ import annotations

import csv
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import pandas as pd
import pytest
import sqlalchemy as sa
from airflow.utils.state import DagRunState

from learnosity_core.content.question_types import count_characters, encode_text
from learnosity_core.dataapi import DataApiClient, DataApiSettings
from learnosity_core.delivery.ledger import SessionStatus
from learnosity_core.delivery.staging import safe_name
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


def _report(pipeline: Any, run: Any) -> Path:
    (path,) = pipeline.reports.glob(f"*/{safe_name(run.run_id)}/report.html")
    return Path(path)


def _quarantine_rows(pipeline: Any, run: Any = None) -> list[dict[str, str]]:
    pattern = f"*/{safe_name(run.run_id)}/quarantine.csv" if run else "*/*/quarantine.csv"
    (path,) = pipeline.reports.glob(pattern)
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


_BALANCE = re.compile(
    r"(\d+) rows read = (\d+) staged \+ (\d+) skipped .*? \+ (\d+) quarantined \+ (\d+) held back"
)


def _balance(pipeline: Any, run: Any = None) -> tuple[int, ...]:
    """(read, staged, skipped, quarantined, held back) as the run's report states them."""
    pages = [_report(pipeline, run)] if run else list(pipeline.reports.rglob("report.html"))
    (page,) = pages
    found = _BALANCE.search(page.read_text(encoding="utf-8"))
    assert found, "the report states how its rows add up"
    return tuple(int(n) for n in found.groups())


@BOTH_JOB_SHAPES
def test_clean_run_stores_every_valid_session_and_quarantines_the_rest(
    sqlite_pipeline: Any, run_dag: Callable[..., Any]
) -> None:
    run = run_dag(DAG_ID, batch_size=7)
    assert run.state == DagRunState.SUCCESS
    sqlite_pipeline.assert_exactly_once()

    quarantined = _quarantine_rows(sqlite_pipeline)
    held_back = {(r["activity_id"], r["user_id"]) for r in quarantined}
    assert held_back == sqlite_pipeline.rows.attrs["invalid_sessions"]
    assert {"unknown_question", "type_conflict"} <= {r["reason"] for r in quarantined}
    # Conservation: every input row is in a stored session or in the quarantine.
    rows = sqlite_pipeline.rows
    keys = zip(rows["activity_id"], rows["user_id"], strict=True)
    sent_rows = rows[[k not in held_back for k in keys]]
    assert len(sent_rows) + len(quarantined) == len(rows)
    assert _balance(sqlite_pipeline) == (len(rows), len(sent_rows), 0, len(quarantined), 0)

    ledger_rows = sqlite_pipeline.ledger().sessions_of_run(run.dag_id, run.run_id)
    completed = [r for r in ledger_rows if r.status == "completed"]
    assert len(completed) == len(sqlite_pipeline.valid_sessions())
    assert all(r.verified for r in completed)
    (report,) = sqlite_pipeline.reports.rglob("report.html")
    assert "<svg" in report.read_text() and "unknown_question" in report.read_text()
    assert "Held back" not in report.read_text() and "not green" not in report.read_text()
    assert _report_link(run) == f"/learnosity/runs/{DAG_ID}/{quote(run.run_id, safe='')}/report", (
        "the report task's extra link opens this run's report page"
    )


def _report_link(run: Any) -> Any:
    """The report task's 'Run report' link as the UI reads it: the XCom the worker stored."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        value = session.scalar(
            sa.select(XComModel.value).where(
                XComModel.dag_id == DAG_ID,
                XComModel.run_id == run.run_id,
                XComModel.task_id == "report",
                XComModel.key == "_link_LearnosityReportLink",
            )
        )
    return XComModel.deserialize_value(SimpleNamespace(value=value)) if value is not None else None


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
            {"a": activity, "u": user, "q": question, "t": _just_now()},
        )
    assert run_dag(DAG_ID).state == DagRunState.SUCCESS
    after = sqlite_pipeline.writes()
    changed = {sid for sid in after if after[sid] != before.get(sid)}
    assert len(changed) == 1
    (stored,) = [s for s in sqlite_pipeline.stored() if s["session_id"] in changed]
    assert (stored["activity_id"], stored["user_id"]) == (activity, user)
    sqlite_pipeline.assert_exactly_once()
    # The correction is in the history beside the original delivery, each with its own job and
    # each recorded when its job completed and again when read back.
    history = sqlite_pipeline.ledger().history(session_id=stored["session_id"])
    deliveries = sorted(
        {
            (h.recorded_at.date(), h.run_id, h.job_reference, h.content_hash)
            for h in history
            if h.status == SessionStatus.COMPLETED and h.verified
        }
    )
    assert len(deliveries) == 2
    (_, *original), (_, *correction) = deliveries
    assert all(a != b for a, b in zip(original, correction, strict=True))


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
    failed = [
        r
        for r in sqlite_pipeline.ledger().sessions_of_run(first.dag_id, first.run_id)
        if r.status == "failed"
    ]
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
    ledger_rows = {
        r.session_id: r for r in sqlite_pipeline.ledger().sessions_of_run(first.dag_id, first.run_id)
    }
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
    resent = [
        r
        for r in sqlite_pipeline.ledger().sessions_of_run(second.dag_id, second.run_id)
        if r.status != "quarantined"
    ]
    assert [(r.session_id, r.status, r.verified) for r in resent] == [(refused, "completed", True)]
    sqlite_pipeline.assert_exactly_once()


def _ti_states(run: Any) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def test_when_every_submit_fails_the_run_fails_and_the_next_run_delivers_everything_once(
    sqlite_pipeline: Any, run_dag: Callable[..., Any]
) -> None:
    sqlite_pipeline.emulator.set_faults(Faults(deny_sets=True))  # e.g. a key rotated to read-only
    first = run_dag(DAG_ID)
    assert first.state == DagRunState.FAILED
    assert _ti_states(first)["report"] == "failed", "the report is written, then fails the run"
    assert sqlite_pipeline.stored() == []
    assert sqlite_pipeline.ledger().last_window_end(DAG_ID) is None, "nothing may be marked finished"
    page = _report(sqlite_pipeline, first).read_text(encoding="utf-8")
    assert "staged but never submitted" in page

    sqlite_pipeline.emulator.set_faults(Faults())
    second = run_dag(DAG_ID)
    assert second.state == DagRunState.SUCCESS
    sqlite_pipeline.assert_exactly_once()
    assert set(sqlite_pipeline.writes().values()) == {1}


def _touch(pipeline: Any, activity: str, answer: str) -> tuple[str, str]:
    """Change one shorttext answer of a valid session of `activity` now; return (activity, user)."""
    rows = pipeline.rows
    pick = rows[(rows["question_type"] == "shorttext") & (rows["activity_id"] == activity)]
    user, question = next(
        (u, q)
        for u, q in zip(pick["user_id"], pick["question_id"], strict=True)
        if (activity, u) in pipeline.valid_sessions()
    )
    with pipeline.warehouse.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE learnosity_responses SET response = :r, updated_at = :t"
                " WHERE activity_id = :a AND user_id = :u AND question_id = :q"
            ),
            {"r": answer, "a": activity, "u": user, "q": question, "t": _just_now()},
        )
    return activity, user


def _just_now() -> str:
    """Two seconds back: SQLite compares whole seconds, and the next run's window may end this one."""
    return (datetime.now(UTC) - timedelta(seconds=2)).strftime("%Y-%m-%d %H:%M:%S")


def test_a_filtered_run_leaves_other_activities_changes_for_the_next_default_run(
    sqlite_pipeline: Any, run_dag: Callable[..., Any]
) -> None:
    assert run_dag(DAG_ID).state == DagRunState.SUCCESS
    one, other = sorted({a for a, _ in sqlite_pipeline.valid_sessions()})[:2]
    changed = _touch(sqlite_pipeline, other, "corrected on paper")
    before = sqlite_pipeline.writes()

    assert run_dag(DAG_ID, activity_ids=[one]).state == DagRunState.SUCCESS
    assert sqlite_pipeline.writes() == before, "the filter leaves the other activity's change alone"

    future = run_dag(DAG_ID, window_end="2999-01-01T00:00:00Z")
    assert future.state == DagRunState.FAILED and _ti_states(future)["plan"] == "failed"
    assert sqlite_pipeline.writes() == before

    assert run_dag(DAG_ID).state == DagRunState.SUCCESS
    after = sqlite_pipeline.writes()
    (resent,) = [s for s in sqlite_pipeline.stored() if after[s["session_id"]] != before[s["session_id"]]]
    assert (resent["activity_id"], resent["user_id"]) == changed
    sqlite_pipeline.assert_exactly_once()


def test_a_run_quarantining_more_than_its_limit_fails_after_delivering_the_rest(
    sqlite_pipeline: Any, run_dag: Callable[..., Any]
) -> None:
    run = run_dag(DAG_ID, max_quarantine_share=0.05)
    assert run.state == DagRunState.FAILED and _ti_states(run)["report"] == "failed"
    sqlite_pipeline.assert_exactly_once()
    page = _report(sqlite_pipeline, run).read_text(encoding="utf-8")
    assert "above max_quarantine_share 5%: mostly " in page
    assert sqlite_pipeline.ledger().last_window_end(DAG_ID) is None


def test_the_bad_row_corpus_ends_delivered_or_quarantined_and_every_row_adds_up(
    sqlite_pipeline: Any, run_dag: Callable[..., Any]
) -> None:
    """Each case of the issue: rows without learner or activity, a blank learner, no or a broken
    updated_at, an undecodable byte, a session id the ledger knows as another activity's."""
    pipeline = sqlite_pipeline
    loose = pipeline.rows.assign(session_id=None)  # a table that allows NULL ids, like many exports
    loose.to_sql("learnosity_responses", pipeline.warehouse, if_exists="replace", index=False)
    first = run_dag(DAG_ID)
    assert first.state == DagRunState.SUCCESS
    owner = next(
        r for r in pipeline.ledger().sessions_of_run(first.dag_id, first.run_id) if r.status == "completed"
    )
    other = next(a for a, _ in sorted(pipeline.valid_sessions()) if a != owner.activity_id)
    template_row = loose[(loose["activity_id"] == other) & (loose["question_type"] == "shorttext")].iloc[[0]]
    now = _just_now()
    corpus = [
        {"user_id": None, "response": "no learner"},
        {"activity_id": None, "response": "no activity"},
        {"user_id": "   ", "response": "blank learner"},
        {"user_id": "late-scan", "updated_at": None, "response": "scanned late"},
        {"user_id": "typo-time", "updated_at": "next tuesday", "response": "typo"},
        {"user_id": "bad-byte", "response": "placeholder"},
        {"user_id": "squatter", "session_id": owner.session_id, "response": "mine now"},
    ]
    extra = pd.concat(
        [template_row.assign(**{"updated_at": now} | case) for case in corpus], ignore_index=True
    )
    extra.to_sql("learnosity_responses", pipeline.warehouse, if_exists="append", index=False)
    with pipeline.warehouse.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE learnosity_responses SET response = CAST(x'6f6bff21' AS TEXT)"
                " WHERE user_id = 'bad-byte'"
            )
        )

    # Six bad rows of seven are far over any sane quarantine share (that rule has its own test).
    second = run_dag(DAG_ID, max_quarantine_share=1)
    assert second.state == DagRunState.SUCCESS, "every bad row is quarantined and counted"
    quarantined = {(r["user_id"], r["reason"]) for r in _quarantine_rows(pipeline, second)}
    assert quarantined == {
        ("", "missing_field"),  # no learner
        (str(template_row["user_id"].iloc[0]), "missing_field"),  # no activity
        ("   ", "missing_field"),
        ("typo-time", "invalid_timestamp"),
        ("bad-byte", "invalid_encoding"),
        ("squatter", "session_id_conflict"),
    }
    assert _balance(pipeline, second) == (len(corpus), 1, 0, len(corpus) - 1, 0)
    stored = {s["session_id"]: s for s in pipeline.stored()}
    assert stored[owner.session_id]["user_id"] == owner.user_id, "the owner's session is untouched"
    assert "late-scan" in {s["user_id"] for s in stored.values()}
    kept = {r.session_id: r for r in pipeline.ledger().sessions_of_run(first.dag_id, first.run_id)}[
        owner.session_id
    ]
    assert (kept.user_id, kept.status) == (owner.user_id, "completed")


def test_staged_learner_data_is_gone_after_a_successful_run(
    sqlite_pipeline: Any, run_dag: Callable[..., Any]
) -> None:
    run = run_dag(DAG_ID)
    assert run.state == DagRunState.SUCCESS
    dag_stage = sqlite_pipeline.stage / DAG_ID
    assert [p for p in dag_stage.rglob("*") if p.is_file()] == [], "no staged batch outlives a successful run"
    (quarantine_csv,) = sqlite_pipeline.reports.rglob("quarantine.csv")
    assert quarantine_csv.stat().st_mode & 0o077 == 0, "the quarantine copy is readable by its owner only"
