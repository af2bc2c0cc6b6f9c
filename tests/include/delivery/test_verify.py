"""Read-back comparison catches every kind of difference."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from learnosity_core.content.question_types import count_characters, encode_text
from learnosity_core.dataapi import DataApiClient, SessionRecord
from learnosity_core.delivery.batching import Batcher
from learnosity_core.delivery.job_outcomes import record_jobs
from learnosity_core.delivery.ledger import Ledger, SessionEntry, SessionStatus
from learnosity_core.delivery.staging import Shard, write_template
from learnosity_core.delivery.submission import submit_shard
from learnosity_core.delivery.verify import STAND_IN_PREFIX, compare_session, compare_sessions, verify_run
from learnosity_core.delivery.warehouse import Source
from learnosity_core.failed_submission.blob import encode_failed_session
from learnosity_core.template_submission.plan import PlanRequest, plan_template_run
from learnosity_core.template_submission.templates import fetcher
from learnosity_devtools.emulator import EmulatorServer
from learnosity_devtools.emulator.seed import demo_templates, question_id
from learnosity_devtools.sample_data import sample_blob_session, sample_rows, seed_warehouse

DAG_ID = "learnosity_template_submission"

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


def test_what_the_service_adds_to_a_stored_response_is_not_compared() -> None:
    """A read-back record carries more than was sent: revision, apiVersion, timestamps, scores,
    the other questions' responses. Only the fields we sent are compared."""
    record = SessionRecord.model_validate(
        {
            "session_id": "s1",
            "user_id": "u1",
            "status": "Completed",
            "dt_saved": "2026-11-22 02:00:00",
            "score": 3,
            "max_score": 5,
            "responses": [
                {
                    "response_id": "q1",
                    "question_type": "shorttext",
                    "attempted": True,
                    "score": 1,
                    "max_score": 1,
                    "response": {
                        "type": "string",
                        "value": "makka+pakka",
                        "characterCount": 11,
                        "apiVersion": "v2.197.0",
                        "revision": 3,
                        "updatedFormat": True,
                        "timestamp": 1795000000,
                    },
                },
                {
                    "response_id": "q2",
                    "response": {"type": "array", "value": ["0", "1"], "revision": 1, "feedbackAttempts": 0},
                },
                {"response_id": "q3", "response": {"type": "string", "value": "not sent by us"}},
            ],
        }
    )
    assert compare_sessions({"s1": SENT}, [record.model_dump()]) == {"s1": None}


def test_clozeformula_boxes_are_compared() -> None:
    sent = {"responses": [{"question_id": "q9", "type": "array", "value": [["x"]], "responses": [["x"]]}]}
    stored = {"responses": [{"response_id": "q9", "response": {"type": "array", "value": [["x"]]}}]}
    assert compare_session(sent, stored) == "question q9: responses differs on read-back"
    stored["responses"][0]["response"]["responses"] = [["x"]]
    assert compare_session(sent, stored) is None


def test_every_sent_session_gets_a_result() -> None:
    results = compare_sessions({"s1": SENT, "s2": {**SENT, "session_id": "s2"}}, [_stored()])
    assert results == {"s1": None, "s2": "not found on read-back"}


# -- verify_run against the emulator, after a real submission and recording -----------------------

KEY = "emulatordemokey1"
SECRET = "emulator-demo-secret"
ACTIVITY = "demo-biology-cells-u3"
SHORTTEXT = question_id("bio-cells-process")
RUN = "manual__2026-11-22T02:00:00+00:00"
DETAILED = pytest.mark.parametrize("emulator_job_detail", [True], ids=["detailed-jobs"])
MINIMAL = pytest.mark.parametrize("emulator_job_detail", [False], ids=["documented-jobs"])


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
    batcher = Batcher(stage, ledger, DAG_ID, RUN, "from_template", batch_size)
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
    record_jobs(client, ledger, DAG_ID, run_id)


@DETAILED
def test_every_completed_session_is_read_back_and_verified(
    client: DataApiClient, ledger: Ledger, stage: Path
) -> None:
    good = [_session(n, answer=f"Photosynthese {n} – ü") for n in range(5)]
    bad = _session(9, character_count=999)  # rejected by the API: never completed, never read back
    _deliver(client, ledger, stage, _stage(stage, ledger, [*good, bad], batch_size=2))
    assert sum(row.status == SessionStatus.COMPLETED for row in ledger.sessions_of_run(DAG_ID, RUN)) == 5

    result = verify_run(client, ledger, stage, DAG_ID, RUN)
    assert (result.verified, result.mismatched) == (5, 0)
    rows = {row.session_id: row for row in ledger.sessions_of_run(DAG_ID, RUN)}
    assert all(rows[s["session_id"]].verified is True for s in good)
    assert all(rows[s["session_id"]].status == SessionStatus.COMPLETED for s in good)
    assert rows[bad["session_id"]].status == SessionStatus.FAILED
    assert rows[bad["session_id"]].verified is None


@MINIMAL
def test_with_the_documented_answer_a_refused_session_fails_on_read_back(
    client: DataApiClient, ledger: Ledger, stage: Path
) -> None:
    good = [_session(n) for n in range(5)]
    bad = _session(9, character_count=999)  # refused inside the job, which does not say so
    _deliver(client, ledger, stage, _stage(stage, ledger, [*good, bad], batch_size=2))
    assert {row.status for row in ledger.sessions_of_run(DAG_ID, RUN)} == {SessionStatus.COMPLETED}

    result = verify_run(client, ledger, stage, DAG_ID, RUN)
    assert (result.verified, result.mismatched) == (5, 1)
    rows = {row.session_id: row for row in ledger.sessions_of_run(DAG_ID, RUN)}
    refused = rows[bad["session_id"]]
    assert (refused.status, refused.verified, refused.error) == (
        SessionStatus.FAILED,
        False,
        "not found on read-back",
    )
    assert all(rows[s["session_id"]].verified is True for s in good)
    hashes = [(s["session_id"], f"hash-{n}") for n, s in enumerate([*good, bad])]
    assert ledger.delivered(hashes) == {s["session_id"] for s in good}, "the refused one is sent again"


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

    result = verify_run(client, ledger, stage, DAG_ID, RUN)
    assert (result.verified, result.mismatched) == (2, 1)
    rows = {row.session_id: row for row in ledger.sessions_of_run(DAG_ID, RUN)}
    mismatched = rows[changed["session_id"]]
    assert mismatched.verified is False
    assert mismatched.error == f"question {SHORTTEXT}: value differs on read-back"
    assert mismatched.status == SessionStatus.FAILED  # no longer delivered: the next run sends ours again
    assert [rows[s["session_id"]].verified for s in (sessions[0], sessions[2])] == [True, True]
    hashes = [(s["session_id"], f"hash-{n}") for n, s in enumerate(sessions)]
    assert ledger.delivered(hashes) == {sessions[0]["session_id"], sessions[2]["session_id"]}


def test_more_sessions_than_a_page_are_all_read_back(
    client: DataApiClient, emulator: EmulatorServer, ledger: Ledger, stage: Path
) -> None:
    sessions = [_session(n) for n in range(120)]
    _deliver(client, ledger, stage, _stage(stage, ledger, sessions))
    result = verify_run(client, ledger, stage, DAG_ID, RUN)
    assert (result.verified, result.mismatched) == (120, 0)
    assert emulator.stats()["requests"]["get /sessions/responses"]["200"] >= 3  # 50 per page
    assert all(row.verified for row in ledger.sessions_of_run(DAG_ID, RUN))


def test_replayed_sessions_are_verified_by_their_presence_on_read_back(
    client: DataApiClient, emulator: EmulatorServer, ledger: Ledger, stage: Path
) -> None:
    template = demo_templates()[ACTIVITY]
    session = sample_blob_session(template, ACTIVITY, "online-1", 1, "2026-11-21T10:00:00")
    batcher = Batcher(stage, ledger, DAG_ID, RUN, "failed_submission", batch_size=1)  # one blob per request
    batcher.add(
        "replay",
        SessionEntry(session["session_id"], "h", ACTIVITY, "online-1"),
        encode_failed_session(session),
    )
    # An entry under an id Learnosity never stores: the job completes, but read-back finds nothing.
    lost = str(uuid.uuid4())
    batcher.add("replay", SessionEntry(lost, "h2", ACTIVITY, "online-2"), encode_failed_session(session))
    _deliver(client, ledger, stage, batcher.finish(max_shards=1))

    assert verify_run(client, ledger, stage, DAG_ID, RUN).model_dump() == {"verified": 1, "mismatched": 1}
    rows = {row.session_id: row for row in ledger.sessions_of_run(DAG_ID, RUN)}
    assert rows[session["session_id"]].verified is True
    assert rows[lost].verified is False and rows[lost].status == SessionStatus.FAILED
    assert rows[lost].error == "not found on read-back"


def test_a_blob_staged_under_a_stand_in_key_is_not_read_back(
    client: DataApiClient, emulator: EmulatorServer, ledger: Ledger, stage: Path
) -> None:
    """A blob naming no session has no id to read back by: its job's answer is all there is."""
    session = sample_blob_session(demo_templates()[ACTIVITY], ACTIVITY, "online-1", 1, "2026-11-21T10:00:00")
    stand_in = STAND_IN_PREFIX + "0" * (64 - len(STAND_IN_PREFIX))
    batcher = Batcher(stage, ledger, DAG_ID, RUN, "failed_submission")
    batcher.add("replay", SessionEntry(stand_in, "h"), encode_failed_session(session))
    _deliver(client, ledger, stage, batcher.finish(max_shards=1))

    assert verify_run(client, ledger, stage, DAG_ID, RUN).model_dump() == {"verified": 0, "mismatched": 0}
    (row,) = ledger.sessions_of_run(DAG_ID, RUN)
    assert (row.status, row.verified) == (SessionStatus.COMPLETED, None)
    assert "get /sessions/responses" not in emulator.stats()["requests"]


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
        fetcher(client),
        ledger,
        stage,
        PlanRequest(run_id=RUN, batch_size=7),
        "learnosity_template_submission",
        now,
    )
    staged = sum(c.sessions_staged for c in summary.activities.values())
    assert staged > 0
    _deliver(client, ledger, stage, summary.shards)

    completed = [r for r in ledger.sessions_of_run(DAG_ID, RUN) if r.status == SessionStatus.COMPLETED]
    assert len(completed) == staged
    result = verify_run(client, ledger, stage, DAG_ID, RUN)
    assert (result.verified, result.mismatched) == (staged, 0)
    assert all(r.verified for r in ledger.sessions_of_run(DAG_ID, RUN) if r.status == SessionStatus.COMPLETED)
