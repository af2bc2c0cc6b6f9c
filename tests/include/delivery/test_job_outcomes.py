"""Each job state maps to per-session outcomes, with the job's own reason kept."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from learnosity_core.dataapi import DataApiClient, DataApiSettings, Job, JobError, JobResult, JobStatus
from learnosity_core.delivery.batching import Batcher
from learnosity_core.delivery.job_outcomes import record_jobs, session_outcomes
from learnosity_core.delivery.ledger import Ledger, SessionEntry, SessionStatus
from learnosity_core.delivery.staging import Shard, read_batch, read_shard, write_template
from learnosity_core.delivery.submission import submit_shard
from learnosity_devtools.emulator import EmulatorConfig, EmulatorServer, Faults
from learnosity_devtools.emulator.seed import demo_templates, question_id


def _job(status: JobStatus, **data: object) -> Job:
    return Job(reference="j1", status=status, data=JobResult(**data) if data else None)


def test_completed_job_splits_stored_and_rejected_sessions() -> None:
    job = _job(
        JobStatus.COMPLETED,
        sessions_stored=["s1"],
        errors=[JobError(session_id="s2", code="invalid_value", message="mcq value 'x' is not an option")],
    )
    outcomes = {o.session_id: o for o in session_outcomes(job, ["s1", "s2", "s3"], "j1")}
    assert outcomes["s1"].status == SessionStatus.COMPLETED and outcomes["s1"].error is None
    assert outcomes["s2"].status == SessionStatus.FAILED
    assert outcomes["s2"].error == "invalid_value: mcq value 'x' is not an option"
    assert outcomes["s3"].error == "job j1 completed without storing this session"


def test_halted_job_fails_every_session_with_its_reason() -> None:
    outcomes = session_outcomes(_job(JobStatus.HALTED, halt_reason="injected halt"), ["s1", "s2"], "j1")
    assert {o.status for o in outcomes} == {SessionStatus.FAILED}
    assert all(o.error == "job j1 halted: injected halt" for o in outcomes)


def test_unfinished_or_unknown_jobs_fail_their_sessions() -> None:
    (running,) = session_outcomes(_job(JobStatus.RUNNING), ["s1"], "j1")
    assert running.status == SessionStatus.FAILED and "still running when the wait timed out" in str(
        running.error
    )
    (unknown,) = session_outcomes(None, ["s1"], "j9")
    assert unknown.error == "job j9 unknown to the Data API"


# -- record_jobs against the emulator, after a real submission ------------------------------------

KEY = "emulatordemokey1"
SECRET = "emulator-demo-secret"
ACTIVITY = "demo-biology-cells-u3"
SHORTTEXT = question_id("bio-cells-process")
RUN = "manual__2026-11-22T02:00:00+00:00"


def _client(server: EmulatorServer) -> DataApiClient:
    return DataApiClient(
        DataApiSettings(
            base_url=server.url,
            consumer_key=KEY,
            consumer_secret=SECRET,
            backoff_base_s=0.02,
            backoff_cap_s=0.1,
            window_s=server.config.window_s,
        )
    )


@pytest.fixture
def client(emulator: EmulatorServer) -> Iterator[DataApiClient]:
    with _client(emulator) as api:
        yield api


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger.from_url(f"sqlite:///{tmp_path / 'ledger.db'}")


@pytest.fixture
def stage(tmp_path: Path) -> Path:
    folder = tmp_path / "stage"
    folder.mkdir()
    return folder


def _session(user: int, answer: str = "photosynthesis", character_count: int | None = None) -> dict[str, Any]:
    return {
        "user_id": f"student-{user:05d}",
        "activity_id": ACTIVITY,
        "session_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{ACTIVITY}/{user}")),
        "responses": [
            {
                "question_id": SHORTTEXT,
                "type": "string",
                "value": answer,
                "characterCount": len(answer) if character_count is None else character_count,
            }
        ],
    }


def _stage(stage: Path, ledger: Ledger, sessions: list[dict[str, Any]], batch_size: int = 2) -> Shard:
    write_template(stage, ACTIVITY, demo_templates()[ACTIVITY])
    batcher = Batcher(stage, ledger, RUN, "from_template", batch_size)
    for n, doc in enumerate(sessions):
        entry = SessionEntry(doc["session_id"], f"hash-{n}", ACTIVITY, doc["user_id"])
        batcher.add(ACTIVITY, entry, json.dumps(doc))
    (shard,) = batcher.finish(max_shards=1)
    return shard


def _await_jobs(client: DataApiClient, references: list[str], timeout_s: float = 10.0) -> list[Job]:
    deadline = time.monotonic() + timeout_s
    while True:
        jobs = client.get_jobs(references)
        if len(jobs) == len(references) and all(job.status.is_terminal for job in jobs):
            return jobs
        assert time.monotonic() < deadline, "jobs did not finish"
        time.sleep(0.02)


def test_record_jobs_marks_stored_sessions_completed_and_rejected_ones_failed(
    client: DataApiClient, ledger: Ledger, stage: Path
) -> None:
    good = [_session(n) for n in range(4)]
    bad = _session(9, character_count=999)
    shard = _stage(stage, ledger, [*good, bad])
    submitted = submit_shard(client, ledger, stage, shard)
    _await_jobs(client, submitted.job_references)

    result = record_jobs(client, ledger, RUN)
    assert (result.jobs, result.completed, result.failed) == (3, 4, 1)
    rows = {row.session_id: row for row in ledger.sessions_of_run(RUN)}
    assert {rows[s["session_id"]].status for s in good} == {SessionStatus.COMPLETED}
    assert all(rows[s["session_id"]].error is None for s in good)
    failed = rows[bad["session_id"]]
    assert failed.status == SessionStatus.FAILED and "characterCount" in str(failed.error)
    hashes = [(s["session_id"], f"hash-{n}") for n, s in enumerate([*good, bad])]
    assert ledger.delivered(hashes) == {s["session_id"] for s in good}


def test_record_jobs_again_gives_the_same_outcome(client: DataApiClient, ledger: Ledger, stage: Path) -> None:
    shard = _stage(stage, ledger, [_session(n) for n in range(3)])
    _await_jobs(client, submit_shard(client, ledger, stage, shard).job_references)
    first = record_jobs(client, ledger, RUN)
    assert first.completed == 3 and first.failed == 0 and first.jobs == 2
    assert record_jobs(client, ledger, RUN) == first
    assert {row.status for row in ledger.sessions_of_run(RUN)} == {SessionStatus.COMPLETED}


def test_a_halted_job_fails_its_sessions_with_the_halt_reason(
    client: DataApiClient, emulator: EmulatorServer, ledger: Ledger, stage: Path
) -> None:
    shard = _stage(stage, ledger, [_session(n) for n in range(4)])
    emulator.set_faults(Faults(halt_jobs=1))
    submitted = submit_shard(client, ledger, stage, shard, concurrency=1)
    jobs = _await_jobs(client, submitted.job_references)
    halted = [job.reference for job in jobs if job.status == JobStatus.HALTED]
    assert len(halted) == 1

    result = record_jobs(client, ledger, RUN)
    assert (result.jobs, result.completed, result.failed) == (2, 2, 2)
    for row in ledger.sessions_of_run(RUN):
        if row.job_reference in halted:
            assert row.status == SessionStatus.FAILED
            assert str(row.error).startswith(f"job {row.job_reference} halted: ")
        else:
            assert row.status == SessionStatus.COMPLETED


def test_unfinished_and_unknown_jobs_fail_their_sessions(tmp_path: Path, ledger: Ledger, stage: Path) -> None:
    config = EmulatorConfig(port=0, db_path=tmp_path / "slow.db", consumers={KEY: SECRET}, job_delay_s=60.0)
    with EmulatorServer(config) as slow, _client(slow) as client:
        shard = _stage(stage, ledger, [_session(n) for n in range(4)])
        submit_shard(client, ledger, stage, shard)
        lost = read_batch(stage, read_shard(stage, shard.shard)[0])
        unknown = "00000000-0000-0000-0000-000000000000"
        ledger.record_submission(lost.batch_id, unknown)  # a reference the API never gave out
        result = record_jobs(client, ledger, RUN)

    assert (result.jobs, result.completed, result.failed) == (2, 0, 4)
    for row in ledger.sessions_of_run(RUN):
        assert row.status == SessionStatus.FAILED
        if row.session_id in lost.session_ids:
            assert row.error == f"job {unknown} unknown to the Data API"
        else:
            assert "when the wait timed out" in str(row.error)


def test_a_run_without_jobs_records_nothing_and_asks_nothing(
    client: DataApiClient, emulator: EmulatorServer, ledger: Ledger, stage: Path
) -> None:
    _stage(stage, ledger, [_session(1)])  # staged, never submitted
    result = record_jobs(client, ledger, RUN)
    assert (result.jobs, result.completed, result.failed) == (0, 0, 0)
    assert emulator.stats()["total"] == 0
    assert [row.status for row in ledger.sessions_of_run(RUN)] == [SessionStatus.STAGED]
