"""Submitting a shard to the real emulator: every batch posted once, job references kept, retries resume."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from learnosity_core.dataapi import DataApiClient, Job
from learnosity_core.dataapi.errors import DataApiValidationError
from learnosity_core.delivery.batching import Batcher
from learnosity_core.delivery.ledger import Ledger, SessionEntry, SessionStatus
from learnosity_core.delivery.staging import Shard, read_batch, read_shard, write_template
from learnosity_core.delivery.submission import BatchSender, submit_shard
from learnosity_core.failed_submission.blob import decode_failed_session, encode_failed_session
from learnosity_devtools.emulator import EmulatorServer, Faults
from learnosity_devtools.emulator.seed import demo_templates, question_id
from learnosity_devtools.sample_data import sample_blob_session

DAG_ID = "learnosity_template_submission"

KEY = "emulatordemokey1"
SECRET = "emulator-demo-secret"
ACTIVITY = "demo-biology-cells-u3"
SHORTTEXT = question_id("bio-cells-process")
RUN = "scheduled__2026-11-22T02:00:00+00:00"


def _session(user: int, answer: str = "photosynthesis") -> dict[str, Any]:
    return {
        "user_id": f"student-{user:05d}",
        "activity_id": ACTIVITY,
        "session_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{ACTIVITY}/{user}")),
        "responses": [
            {"question_id": SHORTTEXT, "type": "string", "value": answer, "characterCount": len(answer)}
        ],
    }


def _stage_template_sessions(
    stage: Path, ledger: Ledger, sessions: int, batch_size: int, max_shards: int
) -> list[Shard]:
    write_template(stage, ACTIVITY, demo_templates()[ACTIVITY])
    batcher = Batcher(stage, ledger, DAG_ID, RUN, "from_template", batch_size)
    for n in range(sessions):
        doc = _session(n)
        batcher.add(
            ACTIVITY,
            SessionEntry(doc["session_id"], f"h{n}", ACTIVITY, doc["user_id"]),
            json.dumps(doc, ensure_ascii=False),
        )
    return batcher.finish(max_shards)


def _stage_blobs(stage: Path, ledger: Ledger, blobs: list[str], run_id: str = RUN) -> list[Shard]:
    batcher = Batcher(stage, ledger, DAG_ID, run_id, "failed_submission", batch_size=2)
    for n, blob in enumerate(blobs):
        batcher.add("replay", SessionEntry(_blob_session_id(blob), f"h{n}", ACTIVITY, f"u{n}"), blob)
    return batcher.finish(max_shards=1)


def _blob(user: str, revision: int = 1, seed: int = 0) -> str:
    doc = sample_blob_session(
        demo_templates()[ACTIVITY], ACTIVITY, user, revision, "2026-11-21T10:00:00", seed
    )
    return encode_failed_session(doc)


def _blob_session_id(blob: str) -> str:
    return decode_failed_session(blob).session_id


def _posts(emulator: EmulatorServer) -> dict[str, int]:
    stats = httpx.get(f"{emulator.url}/_emulator/stats").json()
    posts: dict[str, int] = stats["requests"].get("set /sessions", {})
    return posts


def _finished(client: DataApiClient, references: list[str], timeout_s: float = 10.0) -> dict[str, Job]:
    deadline = time.monotonic() + timeout_s
    while True:
        jobs = {job.reference: job for job in client.get_jobs(references)}
        if len(jobs) == len(references) and all(j.status.is_terminal for j in jobs.values()):
            return jobs
        assert time.monotonic() < deadline, "jobs did not finish"
        time.sleep(0.02)


def test_every_batch_of_a_shard_is_posted_once_and_its_job_recorded(
    client: DataApiClient, emulator: EmulatorServer, ledger: Ledger, stage: Path
) -> None:
    (shard,) = _stage_template_sessions(stage, ledger, sessions=5, batch_size=2, max_shards=1)
    result = submit_shard(client, ledger, stage, shard, concurrency=3)

    names = read_shard(stage, shard.shard)
    assert len(names) == 3
    assert (result.shard, result.batches_posted, result.batches_resumed, result.sessions) == (1, 3, 0, 5)
    assert len(set(result.job_references)) == 3
    assert _posts(emulator) == {"200": 3}

    jobs = _finished(client, result.job_references)
    for name in names:
        batch = read_batch(stage, name)
        reference = ledger.job_for_batch(batch.batch_id)
        assert reference in result.job_references
        job = jobs[str(reference)]
        assert job.data is not None and sorted(job.data["sessions_stored"]) == sorted(batch.session_ids)
    rows = ledger.sessions_of_run(DAG_ID, RUN)
    assert len(rows) == 5
    assert {r.status for r in rows} == {SessionStatus.SUBMITTED}
    assert all(r.job_reference == ledger.job_for_batch(str(r.batch_id)) for r in rows)
    assert sorted(ledger.jobs_of_run(DAG_ID, RUN)) == sorted(result.job_references)
    assert {s["session_id"]: s["writes"] for s in emulator.stored_sessions()} == {
        r.session_id: 1 for r in rows
    }


def test_a_second_call_resumes_without_posting_again_or_reading_the_batches(
    client: DataApiClient, emulator: EmulatorServer, ledger: Ledger, stage: Path
) -> None:
    (shard,) = _stage_template_sessions(stage, ledger, sessions=7, batch_size=3, max_shards=1)
    first = submit_shard(client, ledger, stage, shard)
    for name in read_shard(stage, shard.shard):
        (stage / "batches" / name).unlink()  # the ledger says what went: no batch is read again
    again = submit_shard(client, ledger, stage, shard)

    assert (again.batches_posted, again.batches_resumed, again.sessions) == (0, 3, 7)
    assert sorted(again.job_references) == sorted(first.job_references)
    assert _posts(emulator) == {"200": 3}  # nothing new reached the API


def test_a_shard_written_before_it_named_its_run_resumes_batch_by_batch(
    client: DataApiClient, emulator: EmulatorServer, ledger: Ledger, stage: Path
) -> None:
    (shard,) = _stage_template_sessions(stage, ledger, sessions=7, batch_size=3, max_shards=1)
    assert (shard.dag_id, shard.run_id) == (DAG_ID, RUN)
    first = submit_shard(client, ledger, stage, shard)
    older = Shard.model_validate(shard.model_dump(exclude={"dag_id", "run_id"}))
    again = submit_shard(client, ledger, stage, older)

    assert (again.batches_posted, again.batches_resumed, again.sessions) == (0, 3, 7)
    assert sorted(again.job_references) == sorted(first.job_references)
    assert _posts(emulator) == {"200": 3}


def test_finishing_sends_what_was_handed_over_while_still_wanted(
    client: DataApiClient, emulator: EmulatorServer, ledger: Ledger, stage: Path
) -> None:
    """A plan's sending process drains its queue while the plan lives; once it is gone, what has
    not started is left to the plan's retry."""
    (shard,) = _stage_template_sessions(stage, ledger, sessions=12, batch_size=2, max_shards=1)
    names = read_shard(stage, shard.shard)
    emulator.set_faults(Faults(set_latency_s=0.3))
    everything = BatchSender(client, ledger, stage, name="drain", concurrency=1)
    everything.send(names[:3])
    everything.finish()
    assert everything.posted == 3

    plan_gone = BatchSender(client, ledger, stage, name="orphan", concurrency=1)
    plan_gone.send(names[3:])
    plan_gone.finish(wanted=lambda: False)
    went = [ledger.job_for_batch(read_batch(stage, name).batch_id) is not None for name in names[3:]]
    assert plan_gone.posted == sum(went) < 3 and went[-1] is False


def test_a_retry_posts_only_the_batches_without_a_job(
    client: DataApiClient, emulator: EmulatorServer, ledger: Ledger, stage: Path
) -> None:
    (shard,) = _stage_template_sessions(stage, ledger, sessions=6, batch_size=2, max_shards=1)
    names = read_shard(stage, shard.shard)
    already = read_batch(stage, names[0]).batch_id
    ledger.record_submission(already, "job-from-the-first-attempt")

    result = submit_shard(client, ledger, stage, shard, concurrency=1)
    assert (result.batches_posted, result.batches_resumed) == (2, 1)
    assert "job-from-the-first-attempt" in result.job_references and len(result.job_references) == 3
    assert ledger.job_for_batch(already) == "job-from-the-first-attempt"
    assert _posts(emulator) == {"200": 2}
    _finished(client, [r for r in result.job_references if r != "job-from-the-first-attempt"])
    stored = {s["session_id"] for s in emulator.stored_sessions()}
    assert stored.isdisjoint(read_batch(stage, names[0]).session_ids)
    assert len(stored) == 4


def test_only_the_given_shards_batches_are_sent(
    client: DataApiClient, emulator: EmulatorServer, ledger: Ledger, stage: Path
) -> None:
    first, second = _stage_template_sessions(stage, ledger, sessions=8, batch_size=2, max_shards=2)
    result = submit_shard(client, ledger, stage, second)

    assert result.shard == 2 and result.batches_posted == second.batches == 2
    assert result.sessions == second.sessions == 4
    for name in read_shard(stage, second.shard):
        assert ledger.job_for_batch(read_batch(stage, name).batch_id) is not None
    for name in read_shard(stage, first.shard):
        assert ledger.job_for_batch(read_batch(stage, name).batch_id) is None
    statuses = sorted(r.status for r in ledger.sessions_of_run(DAG_ID, RUN))
    assert statuses == [SessionStatus.STAGED] * 4 + [SessionStatus.SUBMITTED] * 4
    assert _posts(emulator) == {"200": 2}


def test_failed_submission_batches_are_posted_and_resumed(
    client: DataApiClient, emulator: EmulatorServer, ledger: Ledger, stage: Path
) -> None:
    blobs = [_blob(f"online-{n:04d}") for n in range(3)]
    (shard,) = _stage_blobs(stage, ledger, blobs)
    result = submit_shard(client, ledger, stage, shard)

    assert (result.batches_posted, result.batches_resumed, result.sessions) == (2, 0, 3)
    jobs = _finished(client, result.job_references)
    expected = {_blob_session_id(b) for b in blobs}
    stored_by_jobs = {sid for job in jobs.values() if job.data for sid in job.data["sessions_stored"]}
    assert stored_by_jobs == expected
    assert {job.data["data_format"] for job in jobs.values() if job.data} == {"failed_submission"}
    for name in read_shard(stage, shard.shard):
        assert ledger.job_for_batch(read_batch(stage, name).batch_id) in result.job_references
    assert {s["session_id"] for s in emulator.stored_sessions()} == expected

    again = submit_shard(client, ledger, stage, shard)
    assert (again.batches_posted, again.batches_resumed) == (0, 2)
    assert sorted(again.job_references) == sorted(result.job_references)
    assert _posts(emulator) == {"200": 2}


@pytest.mark.parametrize(("ignore", "kept_revision"), [(True, 1), (None, 3)])
def test_ignore_response_revisions_reaches_the_api(
    client: DataApiClient,
    emulator: EmulatorServer,
    tmp_path: Path,
    ledger: Ledger,
    ignore: bool | None,
    kept_revision: int,
) -> None:
    newer, older = _blob("online-0001", revision=3), _blob("online-0001", revision=1, seed=1)
    for run_id, blob, flag in (("run-1", newer, None), ("run-2", older, ignore)):
        run_stage = tmp_path / run_id
        run_stage.mkdir()
        (shard,) = _stage_blobs(run_stage, ledger, [blob], run_id)
        result = submit_shard(client, ledger, run_stage, shard, ignore_response_revisions=flag)
        _finished(client, result.job_references)
    (stored,) = emulator.stored_sessions()
    assert {r["revision"] for r in stored["responses"].values()} == {kept_revision}


def _stage_with_blank_learners(stage: Path, ledger: Ledger, blank: set[int], sessions: int) -> Shard:
    """One batch of `sessions`, those numbered in `blank` without a learner (refused by the API)."""
    write_template(stage, ACTIVITY, demo_templates()[ACTIVITY])
    batcher = Batcher(stage, ledger, DAG_ID, RUN, "from_template", batch_size=sessions)
    for n in range(sessions):
        doc = _session(n) | ({"user_id": "   "} if n in blank else {})
        batcher.add(
            ACTIVITY, SessionEntry(doc["session_id"], f"h{n}", ACTIVITY, doc["user_id"]), json.dumps(doc)
        )
    (shard,) = batcher.finish(max_shards=1)
    return shard


@pytest.mark.parametrize("emulator_entry_checks", ["request"])
def test_a_refused_batch_is_halved_until_only_the_refused_sessions_are_left_and_rejected(
    client: DataApiClient, emulator: EmulatorServer, ledger: Ledger, stage: Path
) -> None:
    shard = _stage_with_blank_learners(stage, ledger, blank={3}, sessions=7)
    result = submit_shard(client, ledger, stage, shard)

    assert (result.sessions, result.sessions_rejected) == (7, 1)
    rows = {r.session_id: r for r in ledger.sessions_of_run(DAG_ID, RUN)}
    poison = _session(3)["session_id"]
    assert rows[poison].status == SessionStatus.REJECTED
    assert "rejected by the Data API" in str(rows[poison].error) and "user_id" in str(rows[poison].error)
    others = [r for sid, r in rows.items() if sid != poison]
    assert {r.status for r in others} == {SessionStatus.SUBMITTED}
    assert {r.job_reference for r in others} == set(result.job_references)
    _finished(client, result.job_references)
    assert sorted(s["session_id"] for s in emulator.stored_sessions()) == sorted(r.session_id for r in others)
    posts = _posts(emulator)
    assert posts["200"] == len(result.job_references) and posts["400"] >= 2  # the whole batch, then parts

    again = submit_shard(client, ledger, stage, shard)  # a retried task posts no accepted session twice
    assert sorted(again.job_references) == sorted(result.job_references)
    assert _posts(emulator)["200"] == posts["200"]


@pytest.mark.parametrize("emulator_entry_checks", ["request"])
def test_a_batch_refused_for_every_session_alone_is_the_requests_fault_not_theirs(
    client: DataApiClient, emulator: EmulatorServer, ledger: Ledger, stage: Path
) -> None:
    shard = _stage_with_blank_learners(stage, ledger, blank={0, 1, 2}, sessions=3)
    with pytest.raises(DataApiValidationError, match="user_id"):
        submit_shard(client, ledger, stage, shard)
    assert {r.status for r in ledger.sessions_of_run(DAG_ID, RUN)} == {SessionStatus.STAGED}
    assert "200" not in _posts(emulator)
