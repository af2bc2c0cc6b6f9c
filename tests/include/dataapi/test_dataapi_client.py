"""The sync client against the emulator over loopback: operations, typed errors, retries, paging."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from learnosity_core.dataapi import (
    AuthenticationError,
    BatchSizeError,
    DataApiClient,
    DataApiSettings,
    DataApiValidationError,
    Job,
    JobStatus,
    RateLimitedError,
    TransientError,
)
from learnosity_core.failed_submission.blob import encode_failed_session
from learnosity_devtools.emulator import EmulatorServer, Faults

Settings = Callable[..., DataApiSettings]
Answers = Callable[[EmulatorServer, str], dict[str, int]]
NewSession = Callable[..., dict[str, Any]]


def wait_for(client: DataApiClient, reference: str, timeout_s: float = 10.0) -> Job:
    deadline = time.monotonic() + timeout_s
    while True:
        jobs = client.get_jobs([reference])
        if jobs and jobs[0].status.is_terminal:
            return jobs[0]
        assert time.monotonic() < deadline, f"job {reference} did not finish"
        time.sleep(0.02)


def test_template_sessions_round_trip(
    client: DataApiClient, template: dict[str, Any], new_session: NewSession
) -> None:
    as_dict, as_json = new_session(1), new_session(2, answer="osmosis")
    reference = client.submit_template_sessions(template, [as_dict, json.dumps(as_json)])
    job = wait_for(client, reference)
    assert job.status is JobStatus.COMPLETED and job.type == "sessions_set"
    assert job.data is not None
    assert sorted(job.data["sessions_stored"]) == sorted([as_dict["session_id"], as_json["session_id"]])
    records = {
        r.session_id: r
        for r in client.iter_session_responses(session_ids=[as_dict["session_id"], as_json["session_id"]])
    }
    stored = records[as_json["session_id"]].responses[0]
    assert stored.response is not None and stored.response["value"] == "osmosis"
    assert records[as_dict["session_id"]].user_id == "student-00001"


def test_job_lists_the_sessions_it_rejected(
    client: DataApiClient, template: dict[str, Any], new_session: NewSession
) -> None:
    good, bad = new_session(1), new_session(2)
    bad["responses"][0]["characterCount"] = 999
    job = wait_for(client, client.submit_template_sessions(template, [good, bad]))
    assert job.data is not None
    assert job.data["sessions_stored"] == [good["session_id"]]
    assert [e["session_id"] for e in job.data["errors"]] == [bad["session_id"]]
    assert "characterCount" in job.data["errors"][0]["message"]


def test_failed_sessions_round_trip(client: DataApiClient, emulator: EmulatorServer) -> None:
    blob = encode_failed_session(
        {
            "session_id": "5b4c7a52-54d0-4d7c-9d0a-3f3d1a0f6d11",
            "user_id": "student-00009",
            "activity_id": "demo-biology-cells-u3",
            "responses": {"q1": {"value": "x", "type": "string", "apiVersion": "v2.1", "revision": 3}},
        }
    )
    job = wait_for(client, client.submit_failed_sessions([blob], ignore_response_revisions=True))
    assert job.data is not None and job.data["sessions_stored"] == ["5b4c7a52-54d0-4d7c-9d0a-3f3d1a0f6d11"]
    assert emulator.stored_sessions()[0]["responses"]["q1"]["revision"] == 3


def test_in_flight_jobs_are_visible(
    make_emulator: Callable[..., EmulatorServer],
    settings_for: Settings,
    template: dict[str, Any],
    new_session: NewSession,
) -> None:
    slow = make_emulator(job_delay_s=60)
    with DataApiClient(settings_for(slow)) as client:
        reference = client.submit_template_sessions(template, [new_session()])
        (job,) = client.get_jobs([reference])
    assert job.status in (JobStatus.QUEUED, JobStatus.RUNNING)
    assert not job.status.is_terminal


def test_more_than_1000_references_are_chunked(
    client: DataApiClient, emulator: EmulatorServer, answers: Answers
) -> None:
    references = [f"00000000-0000-0000-0000-{n:012d}" for n in range(1500)]
    assert client.get_jobs(references) == []
    assert answers(emulator, "get /jobs") == {"200": 2}


def test_session_template(client: DataApiClient, template: dict[str, Any]) -> None:
    assert client.get_session_template(activity_template_id="demo-biology-cells-u3") == template
    by_items = client.get_session_template(items=["bio-cells-01"])
    assert [item["reference"] for item in by_items["items"]] == ["bio-cells-01"]


def test_unknown_template_is_a_validation_error_not_retried(
    client: DataApiClient, emulator: EmulatorServer, answers: Answers
) -> None:
    with pytest.raises(DataApiValidationError) as info:
        client.get_session_template(activity_template_id="no-such-activity")
    assert info.value.code == 20013 and info.value.http_status == 400
    assert "no-such-activity" in str(info.value)  # the server's own message
    assert answers(emulator, "get /sessions/templates") == {"400": 1}


def test_schema_error_carries_the_server_message(client: DataApiClient) -> None:
    with pytest.raises(DataApiValidationError, match="items must not be empty") as info:
        client.get_session_template(items=[])
    assert info.value.code == 20009


@pytest.mark.parametrize(
    ("key", "secret", "code"),
    [("emulatordemokey1", "wrong-secret", 41003), ("unknownconsumer1", "emulator-demo-secret", 41002)],
)
def test_authentication_errors_are_not_retried(
    emulator: EmulatorServer, settings_for: Settings, answers: Answers, key: str, secret: str, code: int
) -> None:
    with (
        DataApiClient(settings_for(emulator, consumer_key=key, consumer_secret=secret)) as client,
        pytest.raises(AuthenticationError) as info,
    ):
        client.ping()
    assert (info.value.code, info.value.http_status) == (code, 403)
    assert answers(emulator, "get /jobs") == {"403": 1}


def test_batches_over_50_are_refused_before_sending(
    client: DataApiClient, emulator: EmulatorServer, template: dict[str, Any], new_session: NewSession
) -> None:
    with pytest.raises(BatchSizeError, match="1 to 50 sessions per request, got 51"):
        client.submit_template_sessions(template, [new_session(n) for n in range(51)])
    assert emulator.stats()["total"] == 0


def test_rate_limited_then_success(
    emulator: EmulatorServer, settings_for: Settings, answers: Answers, caplog: pytest.LogCaptureFixture
) -> None:
    emulator.set_faults(Faults(burst_429=1))
    with DataApiClient(settings_for(emulator, window_s=0.2, window_margin_s=0.0)) as client:
        client.ping()
    assert answers(emulator, "get /jobs") == {"429": 1, "200": 1}
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "attempt 1 of 6" in warnings[0] and "42000" in warnings[0]


def test_rate_limit_retries_are_bounded(emulator: EmulatorServer, settings_for: Settings) -> None:
    emulator.set_faults(Faults(burst_429=5))
    settings = settings_for(emulator, window_s=0.05, window_margin_s=0.0, max_attempts=2)
    with DataApiClient(settings) as client, pytest.raises(RateLimitedError) as info:
        client.ping()
    assert info.value.code == 42000
    assert emulator.faults().burst_429 == 3


def _seed_failing_first_then_passing(rate: float) -> int:
    """Faults draw one number per request from Random(seed); find a seed that fails once, then passes."""
    for seed in range(10_000):
        draws = random.Random(seed)
        if draws.random() < rate <= draws.random():
            return seed
    raise AssertionError("no seed found")


def test_server_error_then_success(
    emulator: EmulatorServer, settings_for: Settings, template: dict[str, Any], new_session: NewSession
) -> None:
    emulator.set_faults(Faults(error_rate=0.5, seed=_seed_failing_first_then_passing(0.5)))
    with DataApiClient(settings_for(emulator)) as client:
        reference = client.submit_template_sessions(template, [new_session()])
    assert reference
    assert emulator.stats()["requests"]["set /sessions"] == {"500": 1, "200": 1}


def test_server_errors_exhaust_the_attempts(emulator: EmulatorServer, settings_for: Settings) -> None:
    emulator.set_faults(Faults(error_rate=1.0))
    with (
        DataApiClient(settings_for(emulator, max_attempts=3)) as client,
        pytest.raises(TransientError) as info,
    ):
        client.ping()
    assert (info.value.http_status, info.value.code) == (500, 10000)
    assert emulator.stats()["statuses"] == {"500": 3}


def test_dropped_connection_is_retried_and_sessions_stored_once(
    client: DataApiClient, emulator: EmulatorServer, template: dict[str, Any], new_session: NewSession
) -> None:
    emulator.set_faults(Faults(drop_after_commit=1))
    sessions = [new_session(n) for n in range(3)]
    reference = client.submit_template_sessions(template, sessions)
    assert emulator.stats()["requests"]["set /sessions"] == {"dropped": 1, "200": 1}
    wait_for(client, reference)
    stored = emulator.stored_sessions()
    assert sorted(s["session_id"] for s in stored) == sorted(s["session_id"] for s in sessions)


def test_unreachable_server_is_transient(settings_for: Settings, emulator: EmulatorServer) -> None:
    url = emulator.url
    emulator.stop()
    settings = settings_for(emulator, base_url=url, max_attempts=2, connect_timeout_s=1.0)
    with DataApiClient(settings) as client, pytest.raises(TransientError, match="ConnectError"):
        client.ping()


def test_client_rides_out_a_server_restart(
    emulator: EmulatorServer,
    settings_for: Settings,
    template: dict[str, Any],
    new_session: NewSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = settings_for(emulator, backoff_base_s=0.2, backoff_cap_s=0.4, max_attempts=8)
    with DataApiClient(settings) as client:
        client.ping()  # a pooled keep-alive connection exists; the restart cuts it
        restart = threading.Thread(target=emulator.restart, kwargs={"downtime_s": 0.6})
        restart.start()
        time.sleep(0.2)  # inside the downtime
        reference = client.submit_template_sessions(template, [new_session()])
        restart.join()
        assert wait_for(client, reference).status is JobStatus.COMPLETED
    assert any("ConnectError" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")


def test_meta_status_false_on_http_200_is_an_error(settings_for: Settings, emulator: EmulatorServer) -> None:
    """The emulator always pairs failures with 4xx/5xx; a real gateway may not, so fake one reply."""
    body = {"meta": {"status": False, "code": 20004, "message": "Invalid include value(s)"}, "data": None}
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=body))
    with (
        DataApiClient(settings_for(emulator), http=httpx.Client(transport=transport)) as client,
        pytest.raises(DataApiValidationError, match="Invalid include") as info,
    ):
        client.get_jobs(["r"])
    assert (info.value.http_status, info.value.code) == (200, 20004)


def test_paging_reads_past_50_sessions_to_the_empty_page(
    client: DataApiClient,
    emulator: EmulatorServer,
    template: dict[str, Any],
    new_session: NewSession,
    answers: Answers,
) -> None:
    sessions = [new_session(n) for n in range(120)]
    references = [client.submit_template_sessions(template, sessions[i : i + 50]) for i in range(0, 120, 50)]
    for reference in references:
        wait_for(client, reference)
    records = list(client.iter_session_responses(activity_ids=["demo-biology-cells-u3"]))
    assert sorted(r.session_id for r in records) == sorted(s["session_id"] for s in sessions)
    assert answers(emulator, "get /sessions/responses") == {"200": 4}  # 50 + 50 + 20 + the empty page


def _submit_from_threads(client: DataApiClient, template: dict[str, Any], batches: list[list[Any]]) -> None:
    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(lambda batch: client.submit_template_sessions(template, batch), batches))


def test_pacing_keeps_threads_under_the_limit(
    make_emulator: Callable[..., EmulatorServer],
    settings_for: Settings,
    template: dict[str, Any],
    new_session: NewSession,
    answers: Answers,
) -> None:
    batches = [[new_session(n)] for n in range(12)]
    server = make_emulator(set_limit=5, window_s=1.0)
    settings = settings_for(server, set_requests_per_window=5, window_s=1.0, max_attempts=1)
    started = time.monotonic()
    with DataApiClient(settings) as client:
        _submit_from_threads(client, template, batches)
    elapsed = time.monotonic() - started
    assert answers(server, "set /sessions") == {"200": 12}
    assert elapsed >= 2.0  # 12 starts at 5 per window need three windows


def test_without_pacing_the_same_load_is_rate_limited(
    make_emulator: Callable[..., EmulatorServer],
    settings_for: Settings,
    template: dict[str, Any],
    new_session: NewSession,
) -> None:
    """Control for the pacing test: the emulator does enforce the limit it was given."""
    server = make_emulator(set_limit=5, window_s=1.0)
    settings = settings_for(server, set_requests_per_window=50, window_s=1.0, max_attempts=1)
    with DataApiClient(settings) as client, pytest.raises(RateLimitedError):
        _submit_from_threads(client, template, [[new_session(n)] for n in range(12)])
