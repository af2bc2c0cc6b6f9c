"""`jobs` get: the documented answer (or the emulator's detailed one), references, status filter,
include, and the queued -> running -> completed lifecycle."""

from __future__ import annotations

import time
import uuid

import pytest

from learnosity_devtools.emulator import EmulatorConfig, EmulatorServer, Faults
from learnosity_devtools.emulator.api import HALT_REASON
from learnosity_devtools.emulator.codes import SESSION_CONFLICT

DOCUMENTED_FIELDS = {"reference", "type", "status", "dt_created", "dt_completed"}
DOCUMENTED = pytest.mark.parametrize("emulator_job_detail", [False], ids=["documented-jobs"])
DETAILED = pytest.mark.parametrize("emulator_job_detail", [True], ids=["detailed-jobs"])


def test_job_detail_is_off_unless_asked_for() -> None:
    assert EmulatorConfig().job_detail is False
    assert EmulatorConfig.from_env({}).job_detail is False
    assert EmulatorConfig.from_env({"EMULATOR_JOB_DETAIL": "1"}).job_detail is True
    assert EmulatorConfig.from_env({"EMULATOR_JOB_DETAIL": "0"}).job_detail is False


@DOCUMENTED
def test_the_documented_answer_has_the_documented_fields_only(emulator, api, build) -> None:
    stored, refused = build.session(), {**build.session(user_id="student-00002"), "responses": []}
    reference = api.set_sessions(build.from_template(stored, refused))
    api.wait(reference)
    emulator.set_faults(Faults(halt_jobs=1))
    halted = api.set_sessions(build.from_template(build.session(user_id="student-00003")))
    api.wait(halted)
    references = [reference, halted]
    for request in ({"references": references}, {"references": references, "include": ["status", "data"]}):
        body = api.ok("jobs", request)
        assert [set(job) for job in body["data"]] == [DOCUMENTED_FIELDS, DOCUMENTED_FIELDS]
        assert [job["status"] for job in body["data"]] == ["completed", "halted"]
    # The refused session is simply not stored: only reading it back shows that.
    assert [s["session_id"] for s in emulator.stored_sessions()] == [stored["session_id"]]


@DETAILED
def test_the_detailed_answer_adds_per_session_data_when_asked(emulator, api, build) -> None:
    stored, refused = build.session(), {**build.session(user_id="student-00002"), "responses": []}
    reference = api.set_sessions(build.from_template(stored, refused))
    api.wait(reference)
    (job,) = api.ok("jobs", {"references": [reference]})["data"]
    assert set(job) == DOCUMENTED_FIELDS
    assert (job["reference"], job["type"], job["status"]) == (reference, "sessions_set", "completed")
    assert len(job["dt_created"]) == len("2026-01-01 00:00:00")
    (with_data,) = api.ok("jobs", {"references": [reference], "include": ["reference", "status", "data"]})[
        "data"
    ]
    assert with_data["data"]["sessions_total"] == 2
    assert with_data["data"]["sessions_stored"] == [stored["session_id"]]
    ((index, session_id),) = [(e["index"], e["session_id"]) for e in with_data["data"]["errors"]]
    assert (index, session_id) == (1, refused["session_id"])
    assert "halt_reason" not in with_data["data"]

    emulator.set_faults(Faults(halt_jobs=1))
    halted = api.wait(api.set_sessions(build.from_template(build.session(user_id="student-00003"))))
    assert (halted["status"], halted["data"]["halt_reason"]) == ("halted", HALT_REASON)


@pytest.mark.parametrize("emulator_job_detail", [False, True], ids=["documented", "detailed"])
def test_a_session_id_owned_by_another_learner_is_refused_until_that_session_is_deleted(
    emulator, api, build, emulator_job_detail: bool
) -> None:
    squatter = build.session(user_id="someone-else")
    api.wait(api.set_sessions(build.from_template(squatter)))
    mine = {**build.session(), "session_id": squatter["session_id"]}
    job = api.wait(api.set_sessions(build.from_template(mine)))
    assert job["status"] == "completed"
    if emulator_job_detail:
        assert [e["code"] for e in job["data"]["errors"]] == [SESSION_CONFLICT]
    else:
        assert "data" not in job
    assert [s["user_id"] for s in emulator.stored_sessions()] == ["someone-else"]

    assert emulator.app.delete_session(squatter["session_id"]) is True
    assert emulator.app.delete_session(squatter["session_id"]) is False
    assert api.ok("sessions/responses", {"session_id": [squatter["session_id"]]})["data"] == []
    assert api.wait(api.set_sessions(build.from_template(mine)))["status"] == "completed"
    assert [s["user_id"] for s in emulator.stored_sessions()] == [mine["user_id"]]


def test_lifecycle_and_status_filter(make_emulator, client_for, build) -> None:
    api = client_for(make_emulator(job_delay_s=0.8, job_detail=True))
    reference = api.set_sessions(build.from_template(build.session()))
    (job,) = api.ok("jobs", {"references": [reference], "include": ["data"]})["data"]
    assert (job["status"], job["dt_completed"]) == ("queued", None)
    assert job["data"]["sessions_stored"] == []
    assert api.ok("jobs", {"references": [reference], "status": ["completed"]})["data"] == []
    seen = set()
    while "completed" not in seen:
        seen |= {job["status"] for job in api.ok("jobs", {"references": [reference]})["data"]}
        time.sleep(0.02)
    assert seen == {"queued", "running", "completed"}
    body = api.ok("jobs", {"references": [reference], "status": ["completed"]})
    assert body["meta"]["records"] == 1
    assert api.ok("jobs", {"references": [reference], "status": ["queued", "running"]})["data"] == []


def test_unknown_references_are_left_out_and_order_is_kept(api, build) -> None:
    first = api.set_sessions(build.from_template(build.session()))
    second = api.set_sessions(build.from_template(build.session()))
    body = api.ok("jobs", {"references": [second, str(uuid.uuid4()), first]})
    assert [j["reference"] for j in body["data"]] == [second, first]
    assert body["meta"]["records"] == 2


def test_jobs_belong_to_their_consumer(tmp_path, client_for, build) -> None:
    config = EmulatorConfig(
        port=0,
        db_path=tmp_path / "two.db",
        consumers={"consumeraaaaaaaa": "a-secret", "consumerbbbbbbbb": "b-secret"},
    )
    with EmulatorServer(config) as server:
        a, b = client_for(server), client_for(server)
        a.key, a.secret, b.key, b.secret = "consumeraaaaaaaa", "a-secret", "consumerbbbbbbbb", "b-secret"
        reference = a.set_sessions(build.from_template(build.session()))
        assert b.ok("jobs", {"references": [reference]})["data"] == []
        assert len(a.ok("jobs", {"references": [reference]})["data"]) == 1


@pytest.mark.parametrize(
    ("request_body", "status", "code"),
    [
        ({}, 400, 20000),
        ({"references": [str(uuid.uuid4()) for _ in range(1001)]}, 400, 20002),
        ({"references": "abc"}, 400, 20009),
        ({"references": [], "status": ["done"]}, 400, 20004),
        ({"references": [], "include": ["secret_sauce"]}, 400, 20004),
        ({"references": [], "limit": 10}, 400, 20009),
    ],
)
def test_bad_jobs_requests(api, request_body: dict, status: int, code: int) -> None:
    response = api.post("jobs", request_body)
    assert (response.status_code, response.json()["meta"]["code"]) == (status, code)


def test_1000_references_are_accepted(api) -> None:
    assert api.ok("jobs", {"references": [str(uuid.uuid4()) for _ in range(1000)]})["data"] == []
