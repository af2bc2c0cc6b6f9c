"""The shared call loop, driven step by step without HTTP: pacing, re-signing, retry logging."""

from __future__ import annotations

import json
import logging
import random
from urllib.parse import parse_qs

import pytest

from learnosity_core.dataapi.errors import DataApiValidationError
from learnosity_core.dataapi.exchange import Call, Exchange, HttpReply, NetworkFailure, Post, Wait, exchange
from learnosity_core.dataapi.pacing import ASK_AGAIN_S, SlidingWindowLimiter
from learnosity_core.dataapi.retry import RetryPolicy
from learnosity_core.dataapi.settings import DataApiSettings

SETTINGS = DataApiSettings(
    base_url="http://exchange.test", consumer_key="k" * 16, consumer_secret="shh-secret"
)
POLICY = RetryPolicy(
    max_attempts=3, backoff_base_s=0.1, backoff_cap_s=1.0, rate_window_s=5.0, rng=random.Random(0)
)
OK = HttpReply(200, b'{"meta": {"status": true}, "data": {"job_reference": "j1"}}')
RATE_LIMITED = HttpReply(429, b'{"meta": {"status": false, "code": 42000, "message": "Too many requests"}}')
SERVER_ERROR = HttpReply(500, b'{"meta": {"status": false, "code": 10000, "message": "Internal error"}}')
LEARNER_TEXT = "my-very-personal-answer"
CALL = Call("sessions", "set", {"data_format": "from_template", "data": [{"value": LEARNER_TEXT}]})


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def unlimited() -> SlidingWindowLimiter:
    return SlidingWindowLimiter(1000, 1.0)


def drive(
    steps: Exchange, replies: list[HttpReply], clock: FakeClock | None = None
) -> tuple[list[Wait | Post], object]:
    """Act as a tracing transport: mark each Post sent and answer it with the next reply; pass
    each Wait on the clock. Collect the steps and the final envelope."""
    seen: list[Wait | Post] = []
    reply: HttpReply | None = None
    try:
        while True:
            step = steps.send(reply)
            seen.append(step)
            reply = None
            if isinstance(step, Post):
                assert step.send.ready() == 0.0 and step.send.mark() == 0.0
                reply = replies.pop(0)
            elif clock is not None:
                clock.now += step.seconds
    except StopIteration as done:
        return seen, done.value


def test_each_attempt_is_signed_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    stamps = iter(["20240101-1200", "20240101-1206"])
    monkeypatch.setattr("learnosity_sdk.request.init.format_utc_time", lambda: next(stamps))
    steps, envelope = drive(exchange(CALL, SETTINGS, unlimited(), POLICY), [RATE_LIMITED, OK])
    posts = [s for s in steps if isinstance(s, Post)]
    waits = [s for s in steps if isinstance(s, Wait)]
    forms = [parse_qs(p.body.decode("ascii")) for p in posts]
    assert [json.loads(f["security"][0])["timestamp"] for f in forms] == ["20240101-1200", "20240101-1206"]
    sent = json.loads(forms[0]["request"][0])
    assert forms[0]["action"] == ["set"] and {k: v for k, v in sent.items() if k != "meta"} == CALL.request
    assert posts[0].headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert len(waits) == 1 and waits[0].seconds > 5.0
    assert posts[0].url == "http://exchange.test/v2025.2.LTS/sessions"
    assert posts[0].headers["X-Learnosity-Action"] == "set_/sessions"
    assert envelope is not None


def send_one(limiter: SlidingWindowLimiter) -> None:
    booking = limiter.reserve()
    assert booking.token and booking.delay == 0.0
    assert limiter.mark_sent(booking.token) == 0.0


def test_pacing_delay_comes_before_the_post() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(1, 10.0, clock=clock)
    send_one(limiter)
    clock.now = 100.5
    steps, _ = drive(exchange(CALL, SETTINGS, limiter, POLICY, clock), [OK], clock)
    assert isinstance(steps[0], Wait) and 9.0 < steps[0].seconds <= 10.0
    assert isinstance(steps[1], Post)


def test_the_booking_is_sent_when_the_transport_marks_it() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(1, 10.0, clock=clock)
    send_one(limiter)
    steps = exchange(CALL, SETTINGS, limiter, POLICY, clock)
    assert next(steps) == Wait(10.0)
    clock.now = 110.0
    post = steps.send(None)
    assert isinstance(post, Post) and not post.send.marked
    assert limiter.reserve().token is None  # still pending while the connection opens
    clock.now = 110.7  # the headers go out once the connection is open
    assert post.send.mark() == 0.0 and post.send.marked
    assert limiter.reserve().delay == pytest.approx(10.0)  # from the real send, not the booking
    with pytest.raises(StopIteration):
        steps.send(OK)
    assert limiter.reserve().delay == pytest.approx(10.0)  # the reply marks nothing twice


def test_while_the_limit_is_pending_the_exchange_asks_again() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(1, 10.0, clock=clock)
    other = limiter.reserve()
    steps = exchange(CALL, SETTINGS, limiter, POLICY, clock)
    assert next(steps) == Wait(ASK_AGAIN_S)
    assert other.token and limiter.mark_sent(other.token) == 0.0
    assert steps.send(None) == Wait(10.0)
    clock.now += 10.0
    assert isinstance(steps.send(None), Post)


def test_headers_ready_early_are_told_the_rest_to_wait() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(1, 10.0, clock=clock)
    send_one(limiter)
    steps = exchange(CALL, SETTINGS, limiter, POLICY, clock)
    assert next(steps) == Wait(10.0)
    clock.now = 109.0  # woke early on the limiter's clock
    post = steps.send(None)
    assert isinstance(post, Post)
    assert post.send.ready() == pytest.approx(1.0)
    assert post.send.mark() == pytest.approx(1.0) and not post.send.marked  # nor marked early
    clock.now = 110.0
    assert post.send.ready() == 0.0 and post.send.mark() == 0.0 and post.send.marked
    assert post.send.ready() == 0.0  # a marked send never waits again


def test_a_reply_the_transport_did_not_mark_is_counted_as_sent() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(1, 10.0, clock=clock)
    steps = exchange(CALL, SETTINGS, limiter, POLICY, clock)
    assert isinstance(next(steps), Post)  # a transport without trace events marks nothing
    clock.now = 100.3
    with pytest.raises(StopIteration):
        steps.send(OK)
    assert limiter.reserve().delay == pytest.approx(10.0)  # marked when the reply came


def test_a_post_that_failed_before_its_headers_gives_its_booking_back() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(1, 10.0, clock=clock)
    steps = exchange(CALL, SETTINGS, limiter, POLICY, clock)
    assert isinstance(next(steps), Post)
    backoff = steps.send(NetworkFailure("ConnectError", "connection refused"))
    assert isinstance(backoff, Wait)
    assert limiter.reserve().delay == 0.0  # nothing was sent, so nothing holds the window


def test_a_post_abandoned_before_its_headers_gives_its_booking_back() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(1, 10.0, clock=clock)
    steps = exchange(CALL, SETTINGS, limiter, POLICY, clock)
    assert isinstance(next(steps), Post)
    steps.close()  # the transport raised, or the caller was cancelled, before the headers went
    assert limiter.reserve().delay == 0.0


def test_every_attempt_books_its_own_start() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(1, 10.0, clock=clock)
    steps, _ = drive(exchange(CALL, SETTINGS, limiter, POLICY, clock), [SERVER_ERROR, OK], clock)
    assert [type(step) for step in steps] == [Post, Wait, Wait, Post]  # backoff, then pacing
    assert clock.now == pytest.approx(110.0)  # the retry is sent a window after the first send


def test_a_dropped_exchange_gives_its_booking_back() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(1, 10.0, clock=clock)
    send_one(limiter)
    steps = exchange(CALL, SETTINGS, limiter, POLICY, clock)
    assert next(steps) == Wait(10.0)
    steps.close()  # the caller was cancelled while waiting
    clock.now = 110.0
    assert limiter.reserve().delay == 0.0  # not still held by the dropped booking


def test_refusal_raises_after_one_attempt() -> None:
    refused = HttpReply(400, b'{"meta": {"status": false, "code": 20009, "message": "data[0] bad"}}')
    with pytest.raises(DataApiValidationError, match="data\\[0\\] bad"):
        drive(exchange(CALL, SETTINGS, unlimited(), POLICY), [refused])


def test_retries_log_a_warning_without_learner_data(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    drive(exchange(CALL, SETTINGS, unlimited(), POLICY), [SERVER_ERROR, SERVER_ERROR, OK])
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [("attempt 1 of 3" in r.getMessage(), "attempt 2 of 3" in r.getMessage()) for r in warnings] == [
        (True, False),
        (False, True),
    ]
    assert LEARNER_TEXT not in caplog.text
    assert "shh-secret" not in caplog.text
