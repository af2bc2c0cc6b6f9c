"""Rate limits per consumer and (action, endpoint) over a sliding window; 429 without Retry-After."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlencode

from learnosity_core.dataapi import DEFAULT_LTS_VERSION
from learnosity_devtools.emulator.ratelimit import RateLimiter

RATE_LIMITED = {"meta": {"status": False, "code": 42000, "message": "Too many requests"}}


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_sliding_window() -> None:
    clock = FakeClock()
    limiter = RateLimiter(window_s=5.0, set_limit=2, get_limit=3, clock=clock)
    assert [limiter.allow("k", "set", "sessions") for _ in range(3)] == [True, True, False]
    assert [limiter.allow("k", "get", "jobs") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("other-consumer", "set", "sessions")
    assert limiter.allow("k", "get", "sessions")  # GET /sessions is not SET /sessions
    clock.now += 4.9
    assert not limiter.allow("k", "set", "sessions")
    clock.now += 0.2  # the first two hits left the window
    assert [limiter.allow("k", "set", "sessions") for _ in range(3)] == [True, True, False]


def test_refused_requests_do_not_use_the_quota() -> None:
    clock = FakeClock()
    limiter = RateLimiter(window_s=1.0, set_limit=1, get_limit=1, clock=clock)
    assert limiter.allow("k", "set", "sessions")
    clock.now += 0.5
    assert not limiter.allow("k", "set", "sessions")
    clock.now += 0.6
    assert limiter.allow("k", "set", "sessions")


def test_requests_count_when_they_arrive_even_when_checked_out_of_order() -> None:
    """The answer's latency runs between arrival and the check: a request that arrived earlier but is
    checked later still counts at its arrival, in every window that holds it."""
    limiter = RateLimiter(window_s=5.0, set_limit=2, get_limit=2, clock=FakeClock())
    assert limiter.allow("k", "set", "sessions", arrived=103.0)
    assert limiter.allow("k", "set", "sessions", arrived=109.0)
    # Arrived at 102.9, checked after both: no 5 s holds three of (102.9, 103.0, 109.0).
    assert limiter.allow("k", "set", "sessions", arrived=102.9)
    assert not limiter.allow("k", "set", "sessions", arrived=104.0)  # (99, 104] would hold three
    # Arrived at 108.5: (103.5, 108.5] and (104, 109] have room.
    assert limiter.allow("k", "set", "sessions", arrived=108.5)
    # Arrived at 108.6: only (103.6, 108.6] is checked at its arrival; (104, 109] would hold three.
    assert not limiter.allow("k", "set", "sessions", arrived=108.6)


def test_429_over_http(make_emulator, client_for, build) -> None:
    server = make_emulator(set_limit=3, get_limit=4, window_s=1.5)
    api = client_for(server)
    request = build.from_template(build.session())
    assert [api.post("sessions", request, "set").status_code for _ in range(3)] == [200] * 3
    refused = api.post("sessions", request, "set")
    assert refused.status_code == 429
    assert refused.json() == RATE_LIMITED
    assert "retry-after" not in refused.headers
    assert [api.post("jobs", {"references": []}).status_code for _ in range(5)] == [200] * 4 + [429]
    time.sleep(1.5)
    assert api.post("sessions", request, "set").status_code == 200
    requests = server.stats()["requests"]
    assert requests["set /sessions"] == {"200": 4, "429": 1}
    assert requests["get /jobs"] == {"200": 4, "429": 1}


def test_a_set_arrives_with_its_request_line_not_after_its_body(make_emulator, client_for, build) -> None:
    """As a gateway counts it: a SET whose body trickles in is stamped when its first line came."""
    server = make_emulator()
    api = client_for(server)
    body = urlencode(api.form(build.from_template(build.session()), "set")).encode()
    head = (
        f"POST /{DEFAULT_LTS_VERSION}/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as slow:
        slow.sendall(head)
        time.sleep(0.6)
        assert api.post("sessions", build.from_template(build.session()), "set").status_code == 200
        slow.sendall(body)
        answer = slow.makefile("rb").readline()
    assert answer.startswith(b"HTTP/1.1 200")
    first, second = server.stats()["set_arrivals"]
    assert first == 0.0
    assert second >= 0.5, "the slow SET was stamped when its body was in, after the quick one"
