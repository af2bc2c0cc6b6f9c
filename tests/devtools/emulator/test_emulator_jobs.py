"""`jobs` get: references, status filter, include, and the queued -> running -> completed lifecycle."""

from __future__ import annotations

import time
import uuid

import pytest

from learnosity_devtools.emulator import EmulatorConfig, EmulatorServer


def test_job_fields_by_default_and_with_data(api, build) -> None:
    reference = api.set_sessions(build.from_template(build.session()))
    api.wait(reference)
    (job,) = api.ok("jobs", {"references": [reference]})["data"]
    assert set(job) == {"reference", "type", "status", "dt_created", "dt_completed"}
    assert (job["reference"], job["type"], job["status"]) == (reference, "sessions_set", "completed")
    assert len(job["dt_created"]) == len("2026-01-01 00:00:00")
    (with_data,) = api.ok("jobs", {"references": [reference], "include": ["reference", "status", "data"]})[
        "data"
    ]
    assert with_data["data"]["sessions_total"] == 1


def test_lifecycle_and_status_filter(make_emulator, client_for, build) -> None:
    api = client_for(make_emulator(job_delay_s=0.8))
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
