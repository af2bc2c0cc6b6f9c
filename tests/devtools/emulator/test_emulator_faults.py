"""Injected faults: 500s, 429 bursts, latency, dropped answers after commit, halted and held jobs."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from learnosity_devtools.emulator import EmulatorConfig, Faults


def test_error_rate_one_always_fails_with_10000(emulator, api, build) -> None:
    emulator.set_faults(Faults(error_rate=1.0))
    response = api.post("sessions", build.from_template(build.session()), "set")
    assert (response.status_code, response.json()["meta"]["code"]) == (500, 10000)
    assert sum(emulator.stats()["jobs"].values()) == 0


def test_error_rate_is_seeded(emulator, api) -> None:
    def run() -> list[int]:
        emulator.set_faults(Faults(error_rate=0.5, seed=11))
        return [api.post("jobs", {"references": []}).status_code for _ in range(20)]

    first = run()
    assert set(first) == {200, 500}
    assert run() == first


def test_burst_429_then_normal(emulator, api) -> None:
    emulator.set_faults(Faults(burst_429=2))
    responses = [api.post("jobs", {"references": []}) for _ in range(3)]
    assert [r.status_code for r in responses] == [429, 429, 200]
    assert responses[0].json()["meta"]["code"] == 42000
    assert emulator.faults().burst_429 == 0


def test_latency_applies_to_every_request(emulator, api) -> None:
    emulator.set_faults(Faults(latency_s=0.3))
    started = time.monotonic()
    api.post("jobs", {"references": []})
    assert time.monotonic() - started >= 0.3


def test_set_latency_does_not_hold_up_other_requests(emulator, api, build) -> None:
    """A slow SET is still pending when a GET sent after it is answered: latency is not serialised."""
    emulator.set_faults(Faults(set_latency_s=1.0))
    form = api.form(build.from_template(build.session()), "set")
    slow = threading.Thread(
        target=httpx.post, args=(f"{api.url}/v2025.2.LTS/sessions",), kwargs={"data": form}
    )
    slow.start()
    time.sleep(0.1)
    assert api.post("jobs", {"references": []}).status_code == 200
    assert slow.is_alive()
    slow.join()


def test_drop_after_commit_commits_the_job_without_answering(emulator, api, build) -> None:
    emulator.set_faults(Faults(drop_after_commit=1))
    entry = build.session()
    with pytest.raises(httpx.RemoteProtocolError):
        api.post("sessions", build.from_template(entry), "set")
    deadline = time.monotonic() + 5
    while not emulator.stored_sessions():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert emulator.stored_sessions()[0]["session_id"] == entry["session_id"]
    assert emulator.stats()["requests"]["set /sessions"] == {"dropped": 1}
    assert api.post("sessions", build.from_template(entry), "set").status_code == 200


def test_halted_job_stores_nothing(emulator, api, build) -> None:
    emulator.set_faults(Faults(halt_jobs=1))
    halted = api.wait(api.set_sessions(build.from_template(build.session())))
    assert halted["status"] == "halted"
    assert halted["data"]["halt_reason"]
    assert halted["data"]["sessions_stored"] == []
    assert emulator.stored_sessions() == []
    assert api.submit(build.from_template(build.session()))["sessions_stored"]


def test_held_job_stays_queued_and_the_next_one_completes(emulator, api, build) -> None:
    emulator.set_faults(Faults(hold_jobs=1))
    held = api.set_sessions(build.from_template(build.session()))
    done = api.wait(api.set_sessions(build.from_template(build.session())))
    assert done["status"] == "completed"
    (job,) = api.post("jobs", {"references": [held]}).json()["data"]
    assert job["status"] == "queued"
    assert emulator.stats()["jobs"]["queued"] == 1


def test_faults_over_the_admin_endpoint(emulator) -> None:
    response = httpx.post(f"{emulator.url}/_emulator/faults", json={"burst_429": 1, "set_latency_s": 0.3})
    assert response.status_code == 200
    current = httpx.get(f"{emulator.url}/_emulator/faults").json()
    assert (current["burst_429"], current["set_latency_s"]) == (1, 0.3)
    assert emulator.faults().burst_429 == 1


def test_invalid_faults_are_refused(emulator) -> None:
    for body in ({"error_rate": 2}, {"explode": True}):
        assert httpx.post(f"{emulator.url}/_emulator/faults", json=body).status_code == 400
    assert httpx.post(f"{emulator.url}/_emulator/faults", content=b"{not json").status_code == 400
    assert emulator.faults() == Faults()


def test_faults_from_the_environment() -> None:
    config = EmulatorConfig.from_env({"EMULATOR_FAULTS": json.dumps({"set_latency_s": 0.3, "halt_jobs": 2})})
    assert config.faults == Faults(set_latency_s=0.3, halt_jobs=2)
