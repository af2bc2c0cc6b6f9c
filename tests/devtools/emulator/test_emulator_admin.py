"""Unsigned `/_emulator/` tooling: health, stored sessions, stats, reset."""

from __future__ import annotations

import threading
import time

import httpx

from learnosity_devtools.emulator import Faults


def test_health(emulator) -> None:
    assert httpx.get(f"{emulator.url}/_emulator/health").json() == {"status": "ok"}


def test_sessions_lists_what_was_stored(emulator, api, build) -> None:
    entry = build.session()
    api.submit(build.from_template(entry))
    (stored,) = httpx.get(f"{emulator.url}/_emulator/sessions").json()
    assert (stored["session_id"], stored["user_id"], stored["activity_id"], stored["writes"]) == (
        entry["session_id"],
        entry["user_id"],
        entry["activity_id"],
        1,
    )
    assert set(stored["responses"]) == {r["question_id"] for r in entry["responses"]}


def test_stats_count_requests_per_endpoint_and_status_and_jobs_per_status(emulator, api, build) -> None:
    api.submit(build.from_template(build.session()))
    emulator.set_faults(Faults(burst_429=1))
    api.post("jobs", {"references": []})
    api.post("jobs", {"references": "x"})
    httpx.post(f"{emulator.url}/sessions")
    stats = httpx.get(f"{emulator.url}/_emulator/stats").json()
    assert stats["requests"]["set /sessions"] == {"200": 1}
    assert stats["requests"]["get /jobs"]["429"] == 1
    assert stats["requests"]["get /jobs"]["400"] == 1
    assert stats["requests"]["unversioned"] == {"404": 1}
    assert stats["statuses"]["429"] == 1
    assert stats["jobs"] == {"queued": 0, "running": 0, "completed": 1, "halted": 0}
    assert stats["total"] == sum(stats["statuses"].values())
    assert stats["set_arrivals"] == [0.0], "the one accepted SET, stamped when it came in"
    assert stats["answering"] == {}


def test_stats_show_the_requests_being_answered(emulator, api, build) -> None:
    """A slow SET shows while the emulator holds it, and no longer once answered."""
    emulator.set_faults(Faults(set_latency_s=1.0))
    sending = threading.Thread(target=api.submit, args=(build.from_template(build.session()),))
    sending.start()
    seen: dict = {}
    deadline = time.monotonic() + 5
    while not seen and time.monotonic() < deadline:
        seen = emulator.stats()["answering"]
    sending.join()
    assert seen == {"set /sessions": 1}
    assert emulator.stats()["answering"] == {}


def test_reset_forgets_everything(emulator, api, build) -> None:
    api.submit(build.from_template(build.session()))
    emulator.set_faults(Faults(halt_jobs=3))
    assert httpx.post(f"{emulator.url}/_emulator/reset").status_code == 200
    assert emulator.stored_sessions() == []
    stats = emulator.stats()
    assert (stats["total"], sum(stats["jobs"].values()), stats["set_arrivals"]) == (0, 0, [])
    assert emulator.faults() == Faults()


def test_unknown_admin_endpoint_and_wrong_method(emulator) -> None:
    assert httpx.get(f"{emulator.url}/_emulator/nothing").status_code == 404
    assert httpx.post(f"{emulator.url}/_emulator/health").status_code == 405
