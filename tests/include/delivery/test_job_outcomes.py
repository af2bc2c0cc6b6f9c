"""Each job state maps to per-session outcomes; what a job's undocumented `data` says is used when
it is recognisable and ignored when it is not."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from learnosity_core.dataapi import DataApiClient, DataApiSettings, Job, JobStatus
from learnosity_core.delivery.batching import Batcher
from learnosity_core.delivery.job_outcomes import read_detail, record_jobs, session_outcomes
from learnosity_core.delivery.ledger import Ledger, SessionEntry, SessionStatus
from learnosity_core.delivery.staging import Shard, read_batch, read_shard, write_template
from learnosity_core.delivery.submission import submit_shard
from learnosity_devtools.emulator import EmulatorConfig, EmulatorServer, Faults
from learnosity_devtools.emulator.api import HALT_REASON
from learnosity_devtools.emulator.seed import demo_templates, question_id

DAG_ID = "learnosity_template_submission"

SESSIONS = ["s1", "s2", "s3"]
NOT_STORED = "job j1 completed without storing this session"
REJECTED = "job j1 rejected this session"


def _job(status: JobStatus, data: Any = None, **fields: Any) -> Job:
    return Job.model_validate({"reference": "j1", "status": status, **fields, "data": data})


def _outcomes(data: Any, sent_order: Sequence[str] | None = None) -> dict[str, str | None]:
    """session id -> None (completed) or its failure, for a completed job answering `data`."""
    order = (lambda: sent_order) if sent_order is not None else None
    outcomes = session_outcomes(_job(JobStatus.COMPLETED, data), SESSIONS, "j1", order)
    assert {o.status for o in outcomes if o.error is None} <= {SessionStatus.COMPLETED}
    assert {o.status for o in outcomes if o.error is not None} <= {SessionStatus.FAILED}
    return {o.session_id: o.error for o in outcomes}


ALL_COMPLETED = dict.fromkeys(SESSIONS)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(None, id="no-data"),
        pytest.param({}, id="empty-object"),
        pytest.param({"data_format": "from_template", "sessions_total": 3}, id="counts-only"),
        pytest.param({"sessions_stored": 3, "failed": 0, "errors": []}, id="counts-under-detail-keys"),
        pytest.param("done", id="text"),
        pytest.param(42, id="number"),
        pytest.param([1, 2, None], id="list-of-numbers"),
        pytest.param({"errors": [{"code": 1, "message": "no session named"}]}, id="unattributed-error"),
        pytest.param({"errors": ["something went wrong"]}, id="unattributed-text-error"),
        pytest.param({"errors": [{"session_id": "not-ours", "message": "x"}]}, id="foreign-session-error"),
        pytest.param({"errors": [{"index": 0, "message": "x"}]}, id="index-without-order"),
        pytest.param({"sessions_stored": ["s1", "other-id"]}, id="stored-list-naming-foreign-ids"),
        pytest.param({"sessions_stored": [1, 2, 3]}, id="stored-list-of-numbers"),
        pytest.param(
            {"sessions": [{"session_id": "s1", "status": "stored"}, "s2"]}, id="results-saying-stored"
        ),
        pytest.param({"sessions": [{"session_id": "s1", "status": "pending"}]}, id="results-unknown-status"),
        pytest.param({"result": "ok", "details": None, "summary": [1]}, id="unknown-nesting"),
        pytest.param({"sessions_stored": SESSIONS, "errors": []}, id="emulator-detail-all-stored"),
    ],
)
def test_a_completed_job_without_recognisable_failures_completes_every_session(data: Any) -> None:
    """The documented answer has no `data`: the job accepted its sessions, read-back confirms each."""
    assert _outcomes(data) == ALL_COMPLETED


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(
            {
                "sessions_stored": ["s1"],
                "errors": [
                    {"index": 1, "session_id": "s2", "code": "invalid_value", "message": "mcq value 'x'"}
                ],
            },
            {"s1": None, "s2": "invalid_value: mcq value 'x'", "s3": NOT_STORED},
            id="emulator-detail",
        ),
        pytest.param(
            {"sessions_stored": [{"session_id": "s1"}, {"sessionId": "s3", "revision": 2}]},
            {"s1": None, "s2": NOT_STORED, "s3": None},
            id="stored-objects",
        ),
        pytest.param({"stored": []}, dict.fromkeys(SESSIONS, NOT_STORED), id="empty-stored-list"),
        pytest.param(
            {"errors": [{"session_id": "s3", "code": 10001, "message": "  bad  "}]},
            {"s1": None, "s2": None, "s3": "10001: bad"},
            id="errors-by-session-id",
        ),
        pytest.param(
            {"errors": [{"sessionId": "s1", "code": "conflict"}, {"session_id": "s2"}]},
            {"s1": "conflict", "s2": REJECTED, "s3": None},
            id="errors-code-only-or-bare",
        ),
        pytest.param({"failed": ["s2"]}, {"s1": None, "s2": REJECTED, "s3": None}, id="failed-ids"),
        pytest.param(
            {"errors": {"s1": "value too long", "s3": {"code": 7, "message": "nope"}}},
            {"s1": "value too long", "s2": None, "s3": "7: nope"},
            id="errors-keyed-by-session",
        ),
        pytest.param(
            {"rejected": [{"session_id": "s2", "error": {"code": "x", "message": "y"}}]},
            {"s1": None, "s2": "x: y", "s3": None},
            id="nested-error-object",
        ),
        pytest.param(
            {"errors": [{"session_id": "s1", "errors": [{"message": f"m{n}"} for n in range(5)]}]},
            {"s1": "m0; m1; m2 (and 2 more)", "s2": None, "s3": None},
            id="many-messages",
        ),
        pytest.param(
            {
                "sessions": [
                    {"session_id": "s1", "status": "stored"},
                    {"session_id": "s2", "status": "FAILED", "message": "bad revision"},
                    {"session_id": "s3", "stored": False},
                ]
            },
            {"s1": None, "s2": "bad revision", "s3": REJECTED},
            id="per-session-results",
        ),
        pytest.param(
            [{"session_id": "s2", "status": "rejected", "code": 40001, "message": "x"}],
            {"s1": None, "s2": "40001: x", "s3": None},
            id="data-is-a-results-list",
        ),
        pytest.param(
            {"results": {"s1": "ok", "s2": "invalid", "s3": False}},
            {"s1": None, "s2": REJECTED, "s3": REJECTED},
            id="results-keyed-by-session",
        ),
        pytest.param(
            {"sessions": [{"session_id": "s3", "error": "too many responses"}]},
            {"s1": None, "s2": None, "s3": "too many responses"},
            id="result-with-error",
        ),
        pytest.param(
            {"result": {"sessions_stored": ["s1", "s2"], "errors": [{"session_id": "s3", "message": "m"}]}},
            {"s1": None, "s2": None, "s3": "m"},
            id="nested-under-result",
        ),
        pytest.param(
            {"sessions_stored": ["s1", "s2"], "errors": [{"session_id": "s2", "message": "partly"}]},
            {"s1": None, "s2": "partly", "s3": NOT_STORED},
            id="an-error-outweighs-stored",
        ),
    ],
)
def test_per_session_detail_is_used_when_the_answer_carries_it(
    data: Any, expected: dict[str, str | None]
) -> None:
    assert _outcomes(data) == expected


def test_errors_by_position_need_the_batch_as_sent() -> None:
    data = {
        "errors": [{"index": 2, "code": "E", "message": "third"}, {"index": 9, "message": "past the end"}]
    }
    assert _outcomes(data, sent_order=["s3", "s1", "s2"]) == {"s1": None, "s2": "E: third", "s3": None}
    assert _outcomes(data) == ALL_COMPLETED  # without the order no position names a session
    bools = {"errors": [{"index": True, "message": "a flag, not a position"}]}
    assert _outcomes(bools, sent_order=SESSIONS) == ALL_COMPLETED


def test_a_session_id_in_an_error_wins_over_its_index() -> None:
    data = {"errors": [{"index": 0, "session_id": "s2", "message": "m"}]}
    assert _outcomes(data, sent_order=SESSIONS) == {"s1": None, "s2": "m", "s3": None}


def test_the_batch_order_is_read_only_when_a_position_is_named() -> None:
    asked: list[bool] = []

    def order() -> list[str]:
        asked.append(True)
        return SESSIONS

    read_detail(None, SESSIONS, order)
    read_detail({"sessions_stored": ["s1"], "errors": [{"session_id": "s2"}]}, SESSIONS, order)
    assert asked == []
    detail = read_detail({"errors": [{"index": 0}, {"index": 1}]}, SESSIONS, order)
    assert asked == [True] and set(detail.rejected) == {"s1", "s2"}


def test_unattributed_errors_are_logged_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="learnosity_core.delivery.job_outcomes")
    assert _outcomes({"errors": ["disk full", {"index": 3}]}) == ALL_COMPLETED
    assert "Job j1: 2 error entries name no session of its batch" in caplog.text


@pytest.mark.parametrize(
    ("data", "fields", "reason"),
    [
        pytest.param({"halt_reason": "injected halt"}, {}, "injected halt", id="halt_reason"),
        pytest.param({"reason": "quota exceeded"}, {}, "quota exceeded", id="reason"),
        pytest.param({"error": {"code": 500, "message": "worker died"}}, {}, "500: worker died", id="error"),
        pytest.param({"errors": [{"message": "a"}, "b"]}, {}, "a; b", id="errors"),
        pytest.param({"details": {"message": "nested"}}, {}, "nested", id="nested"),
        pytest.param("out of memory", {}, "out of memory", id="data-is-text"),
        pytest.param(None, {"message": "on the job itself"}, "on the job itself", id="job-field"),
        pytest.param(None, {}, "no reason given", id="documented-shape"),
        pytest.param({"sessions_total": 2, "halt_reason": ""}, {}, "no reason given", id="empty-reason"),
        pytest.param(12, {"reason": None}, "no reason given", id="unrecognised"),
    ],
)
def test_a_halted_job_fails_every_session_with_the_reason_it_gives(
    data: Any, fields: dict[str, Any], reason: str
) -> None:
    outcomes = session_outcomes(_job(JobStatus.HALTED, data, **fields), ["s1", "s2"], "j1")
    assert {o.status for o in outcomes} == {SessionStatus.FAILED}
    assert [o.error for o in outcomes] == [f"job j1 halted: {reason}"] * 2


def test_unfinished_or_unknown_jobs_fail_their_sessions() -> None:
    (running,) = session_outcomes(_job(JobStatus.RUNNING, {"sessions_stored": ["s1"]}), ["s1"], "j1")
    assert running.status == SessionStatus.FAILED
    assert running.error == "job j1 still running when the wait timed out"
    (unknown,) = session_outcomes(None, ["s1"], "j9")
    assert unknown.error == "job j9 unknown to the Data API"


# -- record_jobs against the emulator, after a real submission ------------------------------------

KEY = "emulatordemokey1"
SECRET = "emulator-demo-secret"
ACTIVITY = "demo-biology-cells-u3"
SHORTTEXT = question_id("bio-cells-process")
RUN = "manual__2026-11-22T02:00:00+00:00"
DETAILED = pytest.mark.parametrize("emulator_job_detail", [True], ids=["detailed-jobs"])
MINIMAL = pytest.mark.parametrize("emulator_job_detail", [False], ids=["documented-jobs"])
BOTH_SHAPES = pytest.mark.parametrize("emulator_job_detail", [False, True], ids=["documented", "detailed"])


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
    batcher = Batcher(stage, ledger, DAG_ID, RUN, "from_template", batch_size)
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


@DETAILED
def test_record_jobs_marks_stored_sessions_completed_and_rejected_ones_failed(
    client: DataApiClient, ledger: Ledger, stage: Path
) -> None:
    good = [_session(n) for n in range(4)]
    bad = _session(9, character_count=999)
    shard = _stage(stage, ledger, [*good, bad])
    submitted = submit_shard(client, ledger, stage, shard)
    _await_jobs(client, submitted.job_references)

    result = record_jobs(client, ledger, DAG_ID, RUN)
    assert (result.jobs, result.completed, result.failed) == (3, 4, 1)
    rows = {row.session_id: row for row in ledger.sessions_of_run(DAG_ID, RUN)}
    assert {rows[s["session_id"]].status for s in good} == {SessionStatus.COMPLETED}
    assert all(rows[s["session_id"]].error is None for s in good)
    failed = rows[bad["session_id"]]
    assert failed.status == SessionStatus.FAILED and "characterCount" in str(failed.error)
    hashes = [(s["session_id"], f"hash-{n}") for n, s in enumerate([*good, bad])]
    assert ledger.delivered(hashes) == {s["session_id"] for s in good}


@MINIMAL
def test_with_the_documented_answer_every_session_of_a_completed_job_is_recorded_completed(
    client: DataApiClient, emulator: EmulatorServer, ledger: Ledger, stage: Path
) -> None:
    """The job says nothing per session, so a session it refused is completed until read-back
    (`test_verify.py`) finds it missing."""
    good = [_session(n) for n in range(4)]
    bad = _session(9, character_count=999)
    shard = _stage(stage, ledger, [*good, bad])
    jobs = _await_jobs(client, submit_shard(client, ledger, stage, shard).job_references)
    assert {job.data for job in jobs} == {None}

    result = record_jobs(client, ledger, DAG_ID, RUN, stage)
    assert (result.jobs, result.completed, result.failed) == (3, 5, 0)
    assert {row.status for row in ledger.sessions_of_run(DAG_ID, RUN)} == {SessionStatus.COMPLETED}
    assert bad["session_id"] not in {s["session_id"] for s in emulator.stored_sessions()}


@BOTH_SHAPES
def test_a_retried_record_reads_no_settled_job_again(
    client: DataApiClient, ledger: Ledger, stage: Path
) -> None:
    shard = _stage(stage, ledger, [_session(n) for n in range(3)])
    _await_jobs(client, submit_shard(client, ledger, stage, shard).job_references)
    first = record_jobs(client, ledger, DAG_ID, RUN)
    assert first.completed == 3 and first.failed == 0 and first.jobs == 2
    assert record_jobs(client, ledger, DAG_ID, RUN).jobs == 0
    assert {row.status for row in ledger.sessions_of_run(DAG_ID, RUN)} == {SessionStatus.COMPLETED}


@pytest.mark.parametrize(
    ("emulator_job_detail", "reason"),
    [(False, "no reason given"), (True, HALT_REASON)],
    ids=["documented-jobs", "detailed-jobs"],
)
def test_a_halted_job_fails_its_sessions_with_the_halt_reason(
    client: DataApiClient, emulator: EmulatorServer, ledger: Ledger, stage: Path, reason: str
) -> None:
    shard = _stage(stage, ledger, [_session(n) for n in range(4)])
    emulator.set_faults(Faults(halt_jobs=1))
    submitted = submit_shard(client, ledger, stage, shard, concurrency=1)
    jobs = _await_jobs(client, submitted.job_references)
    halted = [job.reference for job in jobs if job.status == JobStatus.HALTED]
    assert len(halted) == 1

    result = record_jobs(client, ledger, DAG_ID, RUN)
    assert (result.jobs, result.completed, result.failed) == (2, 2, 2)
    for row in ledger.sessions_of_run(DAG_ID, RUN):
        if row.job_reference in halted:
            assert row.status == SessionStatus.FAILED
            assert row.error == f"job {row.job_reference} halted: {reason}"
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
        result = record_jobs(client, ledger, DAG_ID, RUN)

    assert (result.jobs, result.completed, result.failed) == (2, 0, 4)
    for row in ledger.sessions_of_run(DAG_ID, RUN):
        assert row.status == SessionStatus.FAILED
        if row.session_id in lost.session_ids:
            assert row.error == f"job {unknown} unknown to the Data API"
        else:
            assert "when the wait timed out" in str(row.error)


def test_a_run_without_jobs_records_nothing_and_asks_nothing(
    client: DataApiClient, emulator: EmulatorServer, ledger: Ledger, stage: Path
) -> None:
    _stage(stage, ledger, [_session(1)])  # staged, never submitted
    result = record_jobs(client, ledger, DAG_ID, RUN)
    assert (result.jobs, result.completed, result.failed) == (0, 0, 0)
    assert emulator.stats()["total"] == 0
    assert [row.status for row in ledger.sessions_of_run(DAG_ID, RUN)] == [SessionStatus.STAGED]


class _Answers:
    """A JobReader answering every reference with one completed job carrying `data`."""

    def __init__(self, data: Any) -> None:
        self.data = data

    def get_jobs(self, references: Sequence[str]) -> list[Job]:
        return [_job(JobStatus.COMPLETED, self.data).model_copy(update={"reference": r}) for r in references]


def test_with_the_stage_an_error_naming_a_position_fails_that_session(ledger: Ledger, stage: Path) -> None:
    sessions = [_session(n) for n in range(3)]
    shard = _stage(stage, ledger, sessions, batch_size=3)
    (batch,) = [read_batch(stage, name) for name in read_shard(stage, shard.shard)]
    ledger.record_submission(batch.batch_id, "job-1")
    answers = _Answers({"errors": [{"index": 1, "code": "E1", "message": "second one"}]})

    assert record_jobs(answers, ledger, DAG_ID, RUN).failed == 0  # no stage: the position names nothing
    ledger.record_submission(batch.batch_id, "job-1")  # submitted again: unsettled
    result = record_jobs(answers, ledger, DAG_ID, RUN, stage)
    assert (result.completed, result.failed) == (2, 1)
    rows = {row.session_id: row for row in ledger.sessions_of_run(DAG_ID, RUN)}
    assert rows[batch.session_ids[1]].error == "E1: second one"
    assert {rows[batch.session_ids[i]].status for i in (0, 2)} == {SessionStatus.COMPLETED}
