"""`learnosity_failed_submission_replay` end to end: real Airflow runs against the emulator."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from airflow.utils.state import DagRunState

from learnosity_devtools.emulator import Faults
from learnosity_devtools.emulator.seed import demo_templates
from learnosity_devtools.sample_data import MALFORMED_BLOBS, write_sample_blobs

DAG_ID = "learnosity_failed_submission_replay"
LEARNERS = 12
# The replay has no read-back: it must work whether or not the jobs' answers name their sessions.
pytestmark = pytest.mark.parametrize(
    "emulator_job_detail", [False, True], ids=["documented-jobs", "detailed-jobs"]
)


@pytest.fixture
def landing(sqlite_pipeline: Any, tmp_path: Path) -> Path:
    folder = tmp_path / "landing"
    write_sample_blobs(folder, demo_templates(), learners=LEARNERS)
    (folder / "very-large.txt").write_bytes(b"QUFB" * (2 * 1024 * 1024))
    return folder


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.exists() else []


def test_clean_run_replays_valid_blobs_and_quarantines_the_rest(
    sqlite_pipeline: Any, landing: Path, run_dag: Callable[..., Any]
) -> None:
    run = run_dag(DAG_ID)
    assert run.state == DagRunState.SUCCESS
    stored = sqlite_pipeline.stored()
    assert len(stored) == LEARNERS == len({s["session_id"] for s in stored})
    assert _files(landing) == [], "every file ends in processed/, duplicates/ or quarantine/"
    assert len(_files(landing / "processed")) == LEARNERS
    assert [n for n in _files(landing / "duplicates") if not n.endswith(".reason.txt")] == [
        "session-0000-older-copy.txt"
    ]
    quarantined = {n for n in _files(landing / "quarantine") if not n.endswith(".reason.txt")}
    assert quarantined == {*MALFORMED_BLOBS, "very-large.txt"}
    assert (landing / "quarantine" / "very-large.txt.reason.txt").read_text().startswith("too_large")
    (report,) = sqlite_pipeline.reports.rglob("report.html")
    assert "not_base64" in report.read_text()


def test_rerun_sends_nothing(sqlite_pipeline: Any, landing: Path, run_dag: Callable[..., Any]) -> None:
    assert run_dag(DAG_ID).state == DagRunState.SUCCESS
    before = sqlite_pipeline.writes()
    for path in (landing / "processed").iterdir():  # support drops the same files again
        (landing / path.name).write_bytes(path.read_bytes())
    assert run_dag(DAG_ID).state == DagRunState.SUCCESS
    assert sqlite_pipeline.writes() == before
    assert _files(landing) == []


@pytest.mark.parametrize(
    "faults",
    [
        pytest.param(Faults(error_rate=0.3, seed=5), id="5xx"),
        pytest.param(Faults(burst_429=4), id="429-burst"),
    ],
)
def test_faults_lose_nothing_and_send_nothing_twice(
    sqlite_pipeline: Any, landing: Path, run_dag: Callable[..., Any], faults: Faults
) -> None:
    sqlite_pipeline.emulator.set_faults(faults)
    assert run_dag(DAG_ID).state == DagRunState.SUCCESS
    assert len(sqlite_pipeline.stored()) == LEARNERS
    assert all(w == 1 for w in sqlite_pipeline.writes().values())


def test_a_halted_job_leaves_its_files_for_the_next_run(
    sqlite_pipeline: Any, landing: Path, run_dag: Callable[..., Any]
) -> None:
    sqlite_pipeline.emulator.set_faults(Faults(halt_jobs=1))
    assert run_dag(DAG_ID).state == DagRunState.FAILED
    assert sqlite_pipeline.stored() == []
    assert len([n for n in _files(landing) if n.startswith("session-")]) == LEARNERS

    sqlite_pipeline.emulator.set_faults(Faults())
    assert run_dag(DAG_ID).state == DagRunState.SUCCESS
    assert len(sqlite_pipeline.stored()) == LEARNERS
    assert _files(landing) == []


def test_an_emulator_restart_mid_run_loses_nothing(
    sqlite_pipeline: Any, landing: Path, run_dag: Callable[..., Any]
) -> None:
    import threading
    import time

    emulator = sqlite_pipeline.emulator
    emulator.set_faults(Faults(set_latency_s=0.5))

    def restart_soon() -> None:
        time.sleep(0.2)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not emulator.stats()["jobs"]:
            time.sleep(0.05)
        emulator.restart(downtime_s=1.0)

    watcher = threading.Thread(target=restart_soon, daemon=True)
    watcher.start()
    assert run_dag(DAG_ID).state == DagRunState.SUCCESS
    watcher.join(timeout=5)
    assert len(sqlite_pipeline.stored()) == LEARNERS


def test_blobs_from_a_warehouse_table_are_replayed_too(
    sqlite_pipeline: Any, landing: Path, run_dag: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlalchemy as sa

    from learnosity_core.failed_submission.blob import encode_failed_session
    from learnosity_devtools.sample_data import sample_blob_session

    activity, template = next(iter(demo_templates().items()))
    blob = encode_failed_session(
        sample_blob_session(template, activity, "from-table-1", 1, "2026-11-21T08:00:00")
    )
    with sqlite_pipeline.warehouse.begin() as conn:
        conn.execute(sa.text("CREATE TABLE failed_blobs (blob_id TEXT, blob TEXT)"))
        conn.execute(
            sa.text("INSERT INTO failed_blobs VALUES ('t1', :b), ('t2', 'not base64!')"), {"b": blob}
        )
    monkeypatch.setenv("AIRFLOW_VAR_LEARNOSITY_FAILED_SUBMISSIONS_TABLE", "failed_blobs")
    assert run_dag(DAG_ID).state == DagRunState.SUCCESS
    users = {s["user_id"] for s in sqlite_pipeline.stored()}
    assert "from-table-1" in users and len(users) == LEARNERS + 1
