"""Following a shard's jobs while it sends, against the emulator: outcomes and read-back overlap
the submit, the run's own record and verify tasks find nothing left, and a read-back difference
is never overwritten by a job's answer."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from learnosity_core.dataapi import DataApiClient, DataApiSettings
from learnosity_core.delivery.batching import Batcher
from learnosity_core.delivery.follow import JobFollower
from learnosity_core.delivery.job_outcomes import record_jobs
from learnosity_core.delivery.ledger import Ledger, SessionEntry, SessionStatus, sessions_table
from learnosity_core.delivery.staging import Shard, read_shard, write_template
from learnosity_core.delivery.submission import BatchSender, submit_shard
from learnosity_core.delivery.verify import verify_run
from learnosity_devtools.emulator import EmulatorConfig, EmulatorServer
from learnosity_devtools.emulator.seed import demo_templates, question_id

KEY = "emulatordemokey1"
SECRET = "emulator-demo-secret"
DAG_ID = "learnosity_template_submission"
RUN = "manual__2026-12-03T02:00:00+00:00"
ACTIVITY = "demo-biology-cells-u3"
BATCHES = 6


@contextmanager
def _emulator(
    db_path: Path, sets_per_s: int, job_delay_s: float
) -> Iterator[tuple[EmulatorServer, DataApiClient]]:
    """An emulator taking `sets_per_s` SETs a second, and a client paced to it."""
    config = EmulatorConfig(
        port=0,
        db_path=db_path,
        consumers={KEY: SECRET},
        job_delay_s=job_delay_s,
        set_limit=sets_per_s,
        window_s=1.0,
    )
    with EmulatorServer(config) as server:
        settings = DataApiSettings(
            base_url=server.url,
            consumer_key=KEY,
            consumer_secret=SECRET,
            set_requests_per_window=sets_per_s,
            window_s=1.0,
        )
        with DataApiClient(settings) as client:
            yield server, client


@pytest.fixture
def paced(tmp_path: Path) -> Iterator[tuple[EmulatorServer, DataApiClient]]:
    """Two SETs per second and quick jobs: sending takes seconds, each job ends within one."""
    with _emulator(tmp_path / "paced.db", sets_per_s=2, job_delay_s=0.1) as paced:
        yield paced


def _session(user: int) -> dict[str, Any]:
    return {
        "user_id": f"student-{user:05d}",
        "activity_id": ACTIVITY,
        "session_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"follow/{user}")),
        "responses": [
            {
                "question_id": question_id("bio-cells-process"),
                "type": "string",
                "value": "photosynthesis",
                "characterCount": 14,
            }
        ],
    }


def _stage(stage: Path, ledger: Ledger, sessions: int, batch_size: int = 3) -> Shard:
    write_template(stage, ACTIVITY, demo_templates()[ACTIVITY])
    batcher = Batcher(stage, ledger, DAG_ID, RUN, "from_template", batch_size)
    for n in range(sessions):
        doc = _session(n)
        batcher.add(
            ACTIVITY, SessionEntry(doc["session_id"], f"hash-{n}", ACTIVITY, doc["user_id"]), json.dumps(doc)
        )
    (shard,) = batcher.finish(max_shards=1)
    return shard


def test_jobs_are_recorded_and_read_back_while_later_batches_are_still_sent(
    paced: tuple[EmulatorServer, DataApiClient], ledger: Ledger, stage: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("learnosity_core.delivery.follow.POLL_S", 0.1)
    _, client = paced
    shard = _stage(stage, ledger, sessions=3 * BATCHES)

    result = submit_shard(client, ledger, stage, shard, concurrency=1, follow_jobs=True)

    assert result.batches_posted == BATCHES
    rows = ledger.sessions_of_run(DAG_ID, RUN)
    assert {(row.status, row.verified) for row in rows} == {(SessionStatus.COMPLETED, True)}
    first_verified = min(
        h.recorded_at for row in rows for h in ledger.history(session_id=row.session_id) if h.verified
    )
    last_submitted = max(
        h.recorded_at
        for row in rows
        for h in ledger.history(session_id=row.session_id)
        if h.status == SessionStatus.SUBMITTED
    )
    assert first_verified < last_submitted, "the first job was verified before the last batch went out"
    # The run's own steps find nothing left to do.
    assert record_jobs(client, ledger, DAG_ID, RUN).jobs == 0
    assert verify_run(client, ledger, stage, DAG_ID, RUN).verified == 0


def test_following_without_verify_records_outcomes_and_reads_nothing_back(
    paced: tuple[EmulatorServer, DataApiClient], ledger: Ledger, stage: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("learnosity_core.delivery.follow.POLL_S", 0.1)
    server, client = paced
    shard = _stage(stage, ledger, sessions=6)

    submit_shard(client, ledger, stage, shard, follow_jobs=True, verify=False)

    assert {(r.status, r.verified) for r in ledger.sessions_of_run(DAG_ID, RUN)} == {
        (SessionStatus.COMPLETED, None)
    }
    assert server.stats()["requests"].get("GET /sessions/responses", 0) == 0


def test_a_read_back_difference_is_not_overwritten_when_its_job_is_recorded_again(
    paced: tuple[EmulatorServer, DataApiClient], ledger: Ledger, stage: Path
) -> None:
    _, client = paced
    shard = _stage(stage, ledger, sessions=3, batch_size=3)
    submit_shard(client, ledger, stage, shard)
    (job,) = ledger.jobs_of_run(DAG_ID, RUN)
    first, second, third = ledger.jobs_of_run(DAG_ID, RUN)[job]
    # As a follower leaves it: the job recorded, one session read back different, one failed by
    # the job itself (so the job is still worth asking again), one verified.
    ledger.record_verification({first: "responses differ on read-back"})
    ledger.record_verification({third: None})
    with ledger.engine.begin() as conn:
        conn.execute(
            sa.update(sessions_table)
            .where(sessions_table.c.session_id == second)
            .values(status=SessionStatus.FAILED.value, error="job said no")
        )
    while not all(j.status.is_terminal for j in client.get_jobs([job])):
        time.sleep(0.05)

    record_jobs(client, ledger, DAG_ID, RUN)

    rows = {row.session_id: row for row in ledger.sessions_of_run(DAG_ID, RUN)}
    assert (rows[first].status, rows[first].verified) == (SessionStatus.FAILED, False), "read-back decides"
    assert rows[second].status == SessionStatus.COMPLETED, "asked again, the job says stored"
    assert (rows[third].status, rows[third].verified) == (SessionStatus.COMPLETED, True)


def test_batches_posted_before_are_followed_until_their_jobs_are_recorded(
    paced: tuple[EmulatorServer, DataApiClient], ledger: Ledger, stage: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the plan sent while planning (or a killed try posted): the submit resumes it and
    follows its jobs; a batch whose outcome is already recorded is not followed again."""
    monkeypatch.setattr("learnosity_core.delivery.follow.POLL_S", 0.1)
    _, client = paced
    shard = _stage(stage, ledger, sessions=3 * 2)
    submit_shard(client, ledger, stage, shard)  # posted, nothing recorded
    (settled, *_) = ledger.jobs_of_run(DAG_ID, RUN)
    record_jobs(client, ledger, DAG_ID, RUN)  # both jobs recorded ...
    batches = {row.batch_id for row in ledger.sessions_of_run(DAG_ID, RUN)}
    assert not any(ledger.awaits_outcome(b) for b in batches)
    with ledger.engine.begin() as conn:  # ... then one set back to sent, as if its answer never came
        conn.execute(
            sa.update(sessions_table)
            .where(sessions_table.c.job_reference != settled)
            .values(status=SessionStatus.SUBMITTED.value)
        )
    assert sorted(ledger.awaits_outcome(b) for b in batches) == [False, True]

    result = submit_shard(client, ledger, stage, shard, follow_jobs=True)

    assert result.batches_resumed == 2 and result.batches_posted == 0
    rows = ledger.sessions_of_run(DAG_ID, RUN)
    assert {(r.status, r.verified) for r in rows if r.job_reference != settled} == {
        (SessionStatus.COMPLETED, True)
    }
    assert {r.verified for r in rows if r.job_reference == settled} == {None}  # not followed again


def test_leaving_without_linger_leaves_even_ended_jobs_to_the_run_tasks(
    paced: tuple[EmulatorServer, DataApiClient], ledger: Ledger, stage: Path
) -> None:
    """A plan's sending processes stop following as soon as planning ends: recording and reading
    back a backlog of ended jobs would hold up the hand-over to the submit tasks, which resume
    following them."""
    _, client = paced
    shard = _stage(stage, ledger, sessions=3 * 2)
    with JobFollower(client, ledger, stage, verify=True, poll_s=60.0, linger_s=0.0) as follower:
        sender = BatchSender(client, ledger, stage, name="follow-test", follower=follower)
        sender.send(read_shard(stage, shard.shard))
        sender.wait()
        jobs = list(ledger.jobs_of_run(DAG_ID, RUN))
        while not all(j.status.is_terminal for j in client.get_jobs(jobs)):
            time.sleep(0.05)
    assert (follower.recorded, follower.verified) == (0, 0)
    batches = {row.batch_id for row in ledger.sessions_of_run(DAG_ID, RUN)}
    assert len(batches) == 2 and all(ledger.awaits_outcome(b) for b in batches)


def test_after_the_last_post_it_follows_on_while_jobs_keep_ending(
    tmp_path: Path, ledger: Ledger, stage: Path
) -> None:
    """Jobs that end one after another past `linger_s` (a lagging service) are still followed:
    each ended job restarts the wait, so none is left to the run's tasks while jobs progress."""
    linger_s = 1.5
    # Each job ends 2 s after its post; posts are 1.1 s apart.
    with _emulator(tmp_path / "slow.db", sets_per_s=1, job_delay_s=2.0) as (_, client):
        shard = _stage(stage, ledger, sessions=3 * 4)
        with JobFollower(client, ledger, stage, verify=True, poll_s=0.1, linger_s=linger_s) as follower:
            sender = BatchSender(client, ledger, stage, name="follow-test", follower=follower)
            sender.send(read_shard(stage, shard.shard))
            sender.wait()
            last_post = time.monotonic()
        stayed = time.monotonic() - last_post
    # The last two jobs end about 0.9 s and 2.0 s after the last post: the second beyond linger_s.
    assert stayed > linger_s
    assert (follower.recorded, follower.verified) == (4, 3 * 4)


def test_jobs_ended_together_are_recorded_together_and_read_back_in_one_request(
    paced: tuple[EmulatorServer, DataApiClient], ledger: Ledger, stage: Path
) -> None:
    server, client = paced
    shard = _stage(stage, ledger, sessions=3 * BATCHES)
    submit_shard(client, ledger, stage, shard)  # posted, nothing followed
    jobs = ledger.jobs_of_run(DAG_ID, RUN)
    while not all(j.status.is_terminal for j in client.get_jobs(list(jobs))):
        time.sleep(0.05)
    batch_of = {row.job_reference: row.batch_id for row in ledger.sessions_of_run(DAG_ID, RUN)}
    reads_before = server.stats()["requests"].get("get /sessions/responses", {}).get("200", 0)

    follower = JobFollower(client, ledger, stage, verify=True, poll_s=0.05)
    for reference, batch_id in batch_of.items():  # all handed over before it looks
        follower.posted(batch_id, reference)
    with follower:
        pass

    assert (follower.recorded, follower.verified) == (BATCHES, 3 * BATCHES)
    reads = server.stats()["requests"]["get /sessions/responses"]["200"] - reads_before
    # 18 sessions of 6 jobs in one read-back: its page and the empty page that ends it (a read
    # per job would have taken 12 requests).
    assert reads == 2
    rows = ledger.sessions_of_run(DAG_ID, RUN)
    assert {(row.status, row.verified) for row in rows} == {(SessionStatus.COMPLETED, True)}
