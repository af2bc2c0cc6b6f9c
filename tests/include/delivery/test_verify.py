"""Read-back comparison catches every kind of difference."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from learnosity_core.content.question_types import count_characters, encode_text
from learnosity_core.dataapi import DataApiClient, DataApiSettings
from learnosity_core.delivery.batching import Batcher
from learnosity_core.delivery.job_outcomes import record_jobs
from learnosity_core.delivery.ledger import Ledger, SessionEntry, SessionStatus
from learnosity_core.delivery.staging import Shard, write_template
from learnosity_core.delivery.submission import submit_shard
from learnosity_core.delivery.verify import compare_session, compare_sessions, verify_run
from learnosity_core.delivery.warehouse import Source
from learnosity_core.failed_submission.blob import encode_failed_session
from learnosity_core.template_submission.plan import PlanRequest, plan_template_run
from learnosity_devtools.emulator import EmulatorServer
from learnosity_devtools.emulator.seed import demo_templates, question_id
from learnosity_devtools.sample_data import sample_blob_session, sample_rows, seed_warehouse

SENT = {
    "session_id": "s1",
    "responses": [
        {"question_id": "q1", "type": "string", "value": "makka+pakka", "characterCount": 11},
        {"question_id": "q2", "type": "array", "value": ["0", "1"]},
    ],
}


def _stored(**changes: object) -> dict:
    responses = [
        {"response_id": "q1", "response": {"type": "string", "value": "makka+pakka", "characterCount": 11}},
        {"response_id": "q2", "response": {"type": "array", "value": ["0", "1"], "revision": 1}},
    ]
    for qid_field, value in changes.items():
        qid, field = qid_field.split("__")
        next(r for r in responses if r["response_id"] == qid)["response"][field] = value
    return {"session_id": "s1", "responses": responses}


def test_identical_read_back_verifies() -> None:
    assert compare_session(SENT, _stored()) is None


def test_each_difference_is_named() -> None:
    assert compare_session(SENT, None) == "not found on read-back"
    assert (
        compare_session(SENT, _stored(q1__value="makka pakka")) == "question q1: value differs on read-back"
    )
    assert (
        compare_session(SENT, _stored(q1__characterCount=10))
        == "question q1: characterCount differs on read-back"
    )
    assert compare_session(SENT, _stored(q2__type="string")) == "question q2: type differs on read-back"
    assert compare_session(SENT, {"session_id": "s1", "responses": []}) == "question q1 missing on read-back"


def test_every_sent_session_gets_a_result() -> None:
    results = compare_sessions({"s1": SENT, "s2": {**SENT, "session_id": "s2"}}, [_stored()])
    assert results == {"s1": None, "s2": "not found on read-back"}


# -- verify_run against the emulator, after a real submission and recording -----------------------

KEY = "emulatordemokey1"
SECRET = "emulator-demo-secret"
ACTIVITY = "demo-biology-cells-u3"
SHORTTEXT = question_id("bio-cells-process")
RUN = "manual__2026-11-22T02:00:00+00:00"


@pytest.fixture
def client(emulator: EmulatorServer) -> Iterator[DataApiClient]:
    settings = DataApiSettings(
        base_url=emulator.url,
        consumer_key=KEY,
        consumer_secret=SECRET,
        backoff_base_s=0.02,
        backoff_cap_s=0.1,
        window_s=emulator.config.window_s,
    )
    with DataApiClient(settings) as api:
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
                "value": encode_text(answer),
                "characterCount": count_characters(answer) if character_count is None else character_count,
            }
        ],
    }


def _stage(stage: Path, ledger: Ledger, sessions: list[dict[str, Any]], batch_size: int = 50) -> list[Shard]:
    write_template(stage, ACTIVITY, demo_templates()[ACTIVITY])
    batcher = Batcher(stage, ledger, RUN, "from_template", batch_size)
    for n, doc in enumerate(sessions):
        entry = SessionEntry(doc["session_id"], f"hash-{n}", ACTIVITY, doc["user_id"])
        batcher.add(ACTIVITY, entry, json.dumps(doc))
    return batcher.finish(max_shards=4)


def _deliver(
    client: DataApiClient, ledger: Ledger, stage: Path, shards: list[Shard], run_id: str = RUN
) -> None:
    """Submit every shard, wait for the jobs to finish, and record their outcomes."""
    references = [
        ref for shard in shards for ref in submit_shard(client, ledger, stage, shard).job_references
    ]
    deadline = time.monotonic() + 20.0
    while not all(job.status.is_terminal for job in client.get_jobs(references)):
        assert time.monotonic() < deadline, "jobs did not finish"
        time.sleep(0.02)
    record_jobs(client, ledger, run_id)


def test_every_completed_session_is_read_back_and_verified(
    client: DataApiClient, ledger: Ledger, stage: Path
) -> None:
    good = [_session(n, answer=f"Photosynthese {n} – ü") for n in range(5)]
    bad = _session(9, character_count=999)  # rejected by the API: never completed, never read back
    _deliver(client, ledger, stage, _stage(stage, ledger, [*good, bad], batch_size=2))
    assert sum(row.status == SessionStatus.COMPLETED for row in ledger.sessions_of_run(RUN)) == 5

    result = verify_run(client, ledger, stage, RUN)
    assert (result.verified, result.mismatched) == (5, 0)
    rows = {row.session_id: row for row in ledger.sessions_of_run(RUN)}
    assert all(rows[s["session_id"]].verified is True for s in good)
    assert all(rows[s["session_id"]].status == SessionStatus.COMPLETED for s in good)
    assert rows[bad["session_id"]].status == SessionStatus.FAILED
    assert rows[bad["session_id"]].verified is None


def test_a_session_changed_after_delivery_is_reported_as_mismatched(
    client: DataApiClient, ledger: Ledger, stage: Path
) -> None:
    sessions = [_session(n) for n in range(3)]
    _deliver(client, ledger, stage, _stage(stage, ledger, sessions))
    changed = _session(1, answer="osmosis")  # someone else overwrote learner 1's answer since
    reference = client.submit_template_sessions(demo_templates()[ACTIVITY], [changed])
    deadline = time.monotonic() + 10.0
    while not client.get_jobs([reference])[0].status.is_terminal:
        assert time.monotonic() < deadline
        time.sleep(0.02)

    result = verify_run(client, ledger, stage, RUN)
    assert (result.verified, result.mismatched) == (2, 1)
    rows = {row.session_id: row for row in ledger.sessions_of_run(RUN)}
    mismatched = rows[changed["session_id"]]
    assert mismatched.verified is False
    assert mismatched.error == f"question {SHORTTEXT}: value differs on read-back"
    assert mismatched.status == SessionStatus.COMPLETED
    assert [rows[s["session_id"]].verified for s in (sessions[0], sessions[2])] == [True, True]


def test_more_sessions_than_a_page_are_all_read_back(
    client: DataApiClient, emulator: EmulatorServer, ledger: Ledger, stage: Path
) -> None:
    sessions = [_session(n) for n in range(120)]
    _deliver(client, ledger, stage, _stage(stage, ledger, sessions))
    result = verify_run(client, ledger, stage, RUN)
    assert (result.verified, result.mismatched) == (120, 0)
    assert emulator.stats()["requests"]["get /sessions/responses"]["200"] >= 3  # 50 per page
    assert all(row.verified for row in ledger.sessions_of_run(RUN))


def test_failed_submission_runs_have_nothing_to_compare(
    client: DataApiClient, emulator: EmulatorServer, ledger: Ledger, stage: Path
) -> None:
    template = demo_templates()[ACTIVITY]
    blob = encode_failed_session(
        sample_blob_session(template, ACTIVITY, "online-1", 1, "2026-11-21T10:00:00")
    )
    batcher = Batcher(stage, ledger, RUN, "failed_submission")
    batcher.add("replay", SessionEntry(str(uuid.uuid4()), "h", ACTIVITY, "online-1"), blob)
    _deliver(client, ledger, stage, batcher.finish(max_shards=1))
    before = emulator.stats()["total"]

    assert verify_run(client, ledger, stage, RUN).model_dump() == {"verified": 0, "mismatched": 0}
    assert emulator.stats()["total"] == before  # nothing read back
    (row,) = ledger.sessions_of_run(RUN)
    assert row.verified is None


def test_sessions_planned_from_sample_warehouse_rows_verify_for_every_question_type(
    client: DataApiClient, ledger: Ledger, tmp_path: Path
) -> None:
    now = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'warehouse.db'}")
    seed_warehouse(engine, sample_rows(demo_templates(), learners=12, now=now))
    stage = tmp_path / "planned"
    stage.mkdir()
    summary = plan_template_run(
        engine,
        Source(),
        lambda activity: client.get_session_template(activity_template_id=activity),
        ledger,
        stage,
        PlanRequest(run_id=RUN, batch_size=7),
        "learnosity_template_submission",
        now,
    )
    staged = sum(c.sessions_staged for c in summary.activities.values())
    assert staged > 0
    _deliver(client, ledger, stage, summary.shards)

    completed = [r for r in ledger.sessions_of_run(RUN) if r.status == SessionStatus.COMPLETED]
    assert len(completed) == staged
    result = verify_run(client, ledger, stage, RUN)
    assert (result.verified, result.mismatched) == (staged, 0)
    assert all(r.verified for r in ledger.sessions_of_run(RUN) if r.status == SessionStatus.COMPLETED)
