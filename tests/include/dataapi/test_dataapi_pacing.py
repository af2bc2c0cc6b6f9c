"""Sliding-window pacing: at most N sends in any window, shared per consumer and endpoint class."""

from __future__ import annotations

import heapq
import itertools
import json
import random
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis

from learnosity_core.dataapi.pacing import (
    ASK_AGAIN_S,
    EndpointClass,
    Limiter,
    RedisWindowLimiter,
    SlidingWindowLimiter,
    limiters_for,
    redis_key,
    shared_limiter,
)
from learnosity_core.dataapi.settings import DataApiSettings
from lrn_testing.services import REDIS_HOST, REDIS_PORT

REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/0"


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class ThreadClock:
    """`time.monotonic` that remembers each thread's last reading: after a mark, its send instant."""

    def __init__(self) -> None:
        self._local = threading.local()

    def __call__(self) -> float:
        self._local.last = time.monotonic()
        return float(self._local.last)

    @property
    def last(self) -> float:
        return float(self._local.last)


def simulate(
    limiter: Limiter,
    clock: FakeClock,
    callers: int,
    sends: int,
    late: Callable[[], float] = lambda: 0.0,
    reply_s: float = 0.0,
) -> list[float]:
    """`callers` threads that each book, sleep, wake `late()` seconds late, mark the booking sent,
    wait `reply_s` for the reply and book again; the send instants, on the fake clock."""
    seq = itertools.count()
    events: list[tuple[float, int, str | None]] = [(clock.now, next(seq), None) for _ in range(callers)]
    sent: list[float] = []
    while len(sent) < sends:
        clock.now, _, token = heapq.heappop(events)
        if token is None:
            booking = limiter.reserve()
            extra = 0.0 if booking.token is None else late()
            heapq.heappush(events, (clock.now + booking.delay + extra, next(seq), booking.token))
        elif (left := limiter.mark_sent(token)) > 0:
            heapq.heappush(events, (clock.now + left, next(seq), token))
        else:
            sent.append(clock.now)
            heapq.heappush(events, (clock.now + reply_s, next(seq), None))
    return sent


def assert_never_more_than(limit: int, window_s: float, sends: list[float], slack: float = 1e-9) -> None:
    """Every `limit + 1` consecutive sends span at least the window (slack: float rounding only)."""
    ordered = sorted(sends)
    spans = [last - first for first, last in zip(ordered, ordered[limit:], strict=False)]
    assert spans, "too few sends to tell"
    assert min(spans) >= window_s - slack, f"{limit + 1} sends within {min(spans):.6f} s"


def late_now_and_then(seed: int) -> Callable[[], float]:
    """Mostly on time; one wake in five late by up to a second (a loaded 2-core machine)."""
    rng = random.Random(seed)
    return lambda: rng.uniform(0.0, 1.0) if rng.random() < 0.2 else rng.uniform(0.0, 0.002)


def test_no_window_ever_holds_more_than_the_limit() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(5, 1.0, clock=clock)
    sends = simulate(limiter, clock, callers=1, sends=12)
    assert sends == [100.0] * 5 + [101.0] * 5 + [102.0] * 2


def test_freed_slots_are_reused_after_the_window() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(2, 1.0, clock=clock)
    assert simulate(limiter, clock, callers=1, sends=2) == [100.0, 100.0]
    clock.now = 101.5
    assert limiter.reserve().delay == 0.0


def test_a_lower_share_applies_at_once() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(50, 5.0, clock=clock)
    limiter.configure(2, 5.0)
    assert simulate(limiter, clock, callers=1, sends=3) == [100.0, 100.0, 105.0]


def test_invalid_budget_refused() -> None:
    with pytest.raises(ValueError):
        SlidingWindowLimiter(0, 1.0)


def test_a_late_send_pushes_later_starts_past_its_window() -> None:
    """The benchmark's 429: A and B booked at 0, B sent late at 0.3. Counting B at its booked start
    let the next two start at 1.0, three sends in [0.3, 1.3); counting its real send does not."""
    clock = FakeClock()
    limiter = SlidingWindowLimiter(2, 1.0, clock=clock)
    a, b = limiter.reserve(), limiter.reserve()
    assert (a.delay, b.delay) == (0.0, 0.0) and a.token and b.token
    assert limiter.mark_sent(a.token) == 0.0
    clock.now = 100.3
    assert limiter.mark_sent(b.token) == 0.0
    c, d = limiter.reserve(), limiter.reserve()
    assert c.delay == pytest.approx(0.7)  # 1.0 after A
    assert d.delay == pytest.approx(1.0)  # 1.0 after B's real send, not after its booking
    assert_never_more_than(2, 1.0, [100.0, 100.3, clock.now + c.delay, clock.now + d.delay])


def test_late_wakes_never_put_limit_plus_one_sends_in_a_window() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(50, 5.1, clock=clock)
    sends = simulate(limiter, clock, callers=16, sends=2000, late=late_now_and_then(7), reply_s=0.3)
    assert_never_more_than(50, 5.1, sends)


def test_while_the_limit_is_pending_no_booking_is_made() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(2, 1.0, clock=clock)
    a, b = limiter.reserve(), limiter.reserve()
    refused = limiter.reserve()
    assert refused.token is None and refused.delay == ASK_AGAIN_S
    assert a.token and limiter.mark_sent(a.token) == 0.0
    c = limiter.reserve()
    assert c.token and c.delay == 1.0  # one slot: B is still pending, the refusal booked nothing
    assert b.token and limiter.reserve().token is None


def test_asking_again_waits_for_the_earliest_pending_start() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(1, 1.0, clock=clock)
    first = limiter.reserve()
    assert first.token and limiter.mark_sent(first.token) == 0.0
    second = limiter.reserve()
    assert second.delay == 1.0 and second.token
    refused = limiter.reserve()
    assert refused.token is None and refused.delay == 1.0  # nothing can change before 101.0


def test_a_mark_before_the_booked_start_is_refused() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(1, 1.0, clock=clock)
    first = limiter.reserve()
    assert first.token and limiter.mark_sent(first.token) == 0.0
    second = limiter.reserve()
    assert second.token
    clock.now = 100.6  # woke early on the limiter's clock
    assert limiter.mark_sent(second.token) == pytest.approx(0.4)
    assert limiter.reserve().token is None  # still pending, not sent
    clock.now = 101.0
    assert limiter.mark_sent(second.token) == 0.0


def test_a_stale_pending_booking_stops_counting() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(1, 1.0, clock=clock, stale_after_s=60.0)
    dead = limiter.reserve()  # its process died before sending
    assert dead.token
    clock.now = 100.0 + 1.0 + 59.9
    assert limiter.reserve().token is None
    clock.now = 100.0 + 1.0 + 60.0
    assert limiter.reserve().delay == 0.0


def test_a_send_after_the_booking_went_stale_still_counts() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(1, 1.0, clock=clock, stale_after_s=10.0)
    slow = limiter.reserve()
    assert slow.token
    clock.now = 111.0
    other = limiter.reserve()  # the slow booking went stale; this one takes the slot
    assert other.delay == 0.0 and other.token
    assert limiter.mark_sent(slow.token) == 0.0
    assert limiter.mark_sent(other.token) == 0.0
    assert limiter.reserve().delay == 1.0


def test_a_released_booking_frees_its_slot() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(1, 1.0, clock=clock)
    unused = limiter.reserve()
    assert unused.token and limiter.reserve().token is None
    limiter.release(unused.token)
    assert limiter.reserve().delay == 0.0


def test_sixteen_threads_keep_the_full_rate() -> None:
    """16 bookings pending at a time still leave every slot used: 50 sends in every window."""
    clock = FakeClock()
    limiter = SlidingWindowLimiter(50, 5.1, clock=clock)
    sends = simulate(limiter, clock, callers=16, sends=1000, reply_s=0.3)
    assert_never_more_than(50, 5.1, sends)
    steady = sends[50:]
    assert [b - a for a, b in zip(sends, steady, strict=False)] == pytest.approx([5.1] * len(steady))


def test_late_wakes_cost_little_throughput() -> None:
    """A late booking counts in every window until sent; even this many keep >= 94% of 50 per 5 s."""
    clock = FakeClock()
    limiter = SlidingWindowLimiter(50, 5.1, clock=clock)
    sends = simulate(limiter, clock, callers=16, sends=2000, late=late_now_and_then(11), reply_s=0.3)
    rate = (len(sends) - 50) / (sends[-1] - sends[0])  # without the first burst
    assert rate >= 0.94 * 50 / 5.0


def _send(limiter: Limiter) -> str:
    """Book a start, wait for it and mark it sent, as the exchange does; the booking's token."""
    while (booking := limiter.reserve()).token is None:
        time.sleep(booking.delay)
    time.sleep(booking.delay)
    while (left := limiter.mark_sent(booking.token)) > 0:
        time.sleep(left)
    return booking.token


def test_threads_get_distinct_paced_slots() -> None:
    clock = ThreadClock()
    limiter = SlidingWindowLimiter(5, 0.3, clock=clock)
    sends: list[float] = []
    lock = threading.Lock()

    def send() -> None:
        for _ in range(4):
            _send(limiter)
            with lock:
                sends.append(clock.last)

    threads = [threading.Thread(target=send) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(sends) == 12
    assert_never_more_than(5, 0.3, sends)
    assert max(sends) - min(sends) >= 0.6  # 12 sends at 5 per window need three windows


def test_one_limiter_per_consumer_and_endpoint_class() -> None:
    one = DataApiSettings(base_url="http://pacing.test", consumer_key="consumer-one", consumer_secret="s")
    again = one.model_copy(update={"set_requests_per_window": 7})
    other = one.model_copy(update={"consumer_key": "consumer-two"})
    first, second, third = limiters_for(one), limiters_for(again), limiters_for(other)
    assert first[EndpointClass.SET] is second[EndpointClass.SET]
    assert first[EndpointClass.SET] is not first[EndpointClass.GET]
    assert first[EndpointClass.SET] is not third[EndpointClass.SET]
    set_limiter = first[EndpointClass.SET]
    assert isinstance(set_limiter, SlidingWindowLimiter)
    assert set_limiter.limit == 7  # the latest client's share wins
    assert set_limiter.window_s == pytest.approx(one.window_s + one.window_margin_s)


def test_shared_limiter_registry_returns_the_same_object() -> None:
    a = shared_limiter("http://registry.test", "k", EndpointClass.GET, 10, 1.0)
    b = shared_limiter("http://registry.test", "k", EndpointClass.GET, 10, 1.0)
    assert a is b


# -- across processes, in the Redis the cluster already runs ----------------------------------------


@pytest.fixture
def redis_client(redis_available: None) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    yield client
    client.close()


@pytest.fixture
def redis_key_name(redis_client: redis.Redis) -> Iterator[str]:
    """A key of this test's own (sends, and `:pending` bookings), deleted afterwards."""
    key = f"learnosity:test:pacing:{uuid.uuid4().hex}"
    yield key
    redis_client.delete(key, f"{key}:pending")


def _score(client: redis.Redis, key: str, token: str | None) -> float:
    assert token is not None
    score = client.zscore(key, token)
    assert score is not None, f"{token} is not in {key}"
    return float(score)


def test_redis_a_late_send_pushes_later_starts_past_its_window(
    redis_client: redis.Redis, redis_key_name: str
) -> None:
    limiter = RedisWindowLimiter(redis_client, redis_key_name, 2, 0.5)
    a, b = limiter.reserve(), limiter.reserve()
    assert a.token and b.token and a.delay == b.delay == 0.0
    assert limiter.mark_sent(a.token) == 0.0
    time.sleep(0.2)  # B woke late
    assert limiter.mark_sent(b.token) == 0.0
    c, d = limiter.reserve(), limiter.reserve()
    sent_a = _score(redis_client, redis_key_name, a.token)
    sent_b = _score(redis_client, redis_key_name, b.token)
    start_c = _score(redis_client, limiter.pending_key, c.token)
    start_d = _score(redis_client, limiter.pending_key, d.token)
    assert start_c == pytest.approx(sent_a + 0.5, abs=1e-6)
    assert start_d == pytest.approx(sent_b + 0.5, abs=1e-6)  # after B's real send, not its booking
    assert start_d - sent_a >= 0.5 + 0.15


def test_redis_while_the_limit_is_pending_no_booking_is_made(
    redis_client: redis.Redis, redis_key_name: str
) -> None:
    limiter = RedisWindowLimiter(redis_client, redis_key_name, 2, 0.5)
    a, _ = limiter.reserve(), limiter.reserve()
    refused = limiter.reserve()
    assert refused.token is None and refused.delay == pytest.approx(ASK_AGAIN_S)
    assert redis_client.zcard(limiter.pending_key) == 2
    assert a.token and limiter.mark_sent(a.token) == 0.0
    c = limiter.reserve()
    assert c.token and c.delay == pytest.approx(0.5, abs=0.05)
    start_c = _score(redis_client, limiter.pending_key, c.token)
    assert start_c == pytest.approx(_score(redis_client, redis_key_name, a.token) + 0.5, abs=1e-6)
    # C books far ahead: a mark now is refused with the time left, and C stays pending.
    assert limiter.mark_sent(c.token) == pytest.approx(0.5, abs=0.05)
    assert redis_client.zscore(redis_key_name, c.token) is None
    assert limiter.reserve().token is None  # B and C pending
    limiter.release(c.token)
    assert redis_client.zcard(limiter.pending_key) == 1
    # Both keys expire on their own: pending bookings after their window and the stale cap.
    assert redis_client.pttl(limiter.pending_key) > 60_000
    assert 0 < redis_client.pttl(redis_key_name) <= 1_500


def test_redis_a_stale_pending_booking_stops_counting(redis_client: redis.Redis, redis_key_name: str) -> None:
    limiter = RedisWindowLimiter(redis_client, redis_key_name, 1, 0.2, stale_after_s=0.2)
    assert limiter.reserve().token  # its process died before sending
    assert limiter.reserve().token is None
    time.sleep(0.45)
    booking = limiter.reserve()
    assert booking.token and booking.delay == 0.0


def test_redis_sixteen_threads_keep_the_full_rate(redis_client: redis.Redis, redis_key_name: str) -> None:
    limiter = RedisWindowLimiter(redis_client, redis_key_name, 8, 0.4)
    sends: list[float] = []
    lock = threading.Lock()

    def send() -> None:
        for _ in range(3):
            token = _send(limiter)
            with lock:
                sends.append(_score(redis_client, redis_key_name, token))

    threads = [threading.Thread(target=send) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(sends) == 48
    assert_never_more_than(8, 0.4, sends, slack=1e-6)
    # 48 sends at 8 per window need 5 windows after the first burst; a loaded machine may add some.
    assert max(sends) - min(sends) <= 5 * 0.4 + 0.4


# Another process's 3 threads each send `count` requests (limit 4 per 0.6 s), one wake in three late
# by up to 0.3 s, and print the send instants Redis recorded.
_SEND_IN_REDIS = """
import json, random, sys, threading, time
import redis
from learnosity_core.dataapi.pacing import RedisWindowLimiter
url, key, count, go, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
client = redis.Redis.from_url(url)
limiter = RedisWindowLimiter(client, key, 4, 0.6)
sends, lock = [], threading.Lock()

def send(rng):
    for _ in range(count):
        while (booking := limiter.reserve()).token is None:
            time.sleep(booking.delay)
        time.sleep(booking.delay + (rng.uniform(0.0, 0.3) if rng.random() < 1 / 3 else 0.0))
        while (left := limiter.mark_sent(booking.token)) > 0:
            time.sleep(left)
        with lock:
            sends.append(client.zscore(key, booking.token))

time.sleep(max(0.0, go - time.time()))
threads = [threading.Thread(target=send, args=(random.Random(seed * 10 + n),)) for n in range(3)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps(sends))
"""


def test_processes_sending_late_never_put_limit_plus_one_sends_in_a_window(redis_key_name: str) -> None:
    go = time.time() + 1.5  # all start together once imported
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _SEND_IN_REDIS, REDIS_URL, redis_key_name, "3", str(go), str(seed)],
            stdout=subprocess.PIPE,
        )
        for seed in range(3)
    ]
    sends = [s for proc in procs for s in json.loads(proc.communicate(timeout=120)[0])]
    assert all(proc.returncode == 0 for proc in procs)
    assert len(sends) == 27 and None not in sends
    assert_never_more_than(4, 0.6, sends, slack=1e-6)  # on Redis's clock, with no allowance
    assert max(sends) - min(sends) >= 6 * 0.6  # 27 sends at 4 per window: seven windows


def test_clients_of_one_consumer_share_the_redis_budget(redis_available: None) -> None:
    consumer = f"consumer-{uuid.uuid4().hex[:8]}"
    one = DataApiSettings(
        base_url="http://pacing.test",
        consumer_key=consumer,
        consumer_secret="s",
        set_requests_per_window=3,
        window_s=2.0,
        window_margin_s=0.0,
        rate_limiter_url=REDIS_URL,
    )
    other_consumer = one.model_copy(update={"consumer_key": consumer + "-other"})
    first, second, third = limiters_for(one), limiters_for(one), limiters_for(other_consumer)

    def send_now(limiter: Limiter) -> float:
        booking = limiter.reserve()
        assert booking.token is not None
        if booking.delay == pytest.approx(0.0, abs=0.05):
            assert limiter.mark_sent(booking.token) == 0.0
        return booking.delay

    try:
        assert isinstance(first[EndpointClass.SET], RedisWindowLimiter)
        delays = [send_now(first[EndpointClass.SET]), send_now(second[EndpointClass.SET])]
        delays += [send_now(first[EndpointClass.SET]), send_now(second[EndpointClass.SET])]
        assert delays[:3] == pytest.approx([0.0] * 3, abs=0.05)
        assert delays[3] == pytest.approx(2.0, abs=0.05)  # the 4th start waits for the 1st to leave
        assert send_now(third[EndpointClass.SET]) == pytest.approx(0.0, abs=0.05)  # its own budget
        assert send_now(first[EndpointClass.GET]) == pytest.approx(0.0, abs=0.05)  # reads: their own
    finally:
        redis.Redis.from_url(REDIS_URL).delete(
            *(
                redis_key("http://pacing.test", c, cls) + suffix
                for c in (consumer, consumer + "-other")
                for cls in EndpointClass
                for suffix in ("", ":pending")
            )
        )


def test_redis_key_names_no_consumer() -> None:
    key = redis_key("http://pacing.test", "consumer-secretive", EndpointClass.SET)
    assert "consumer-secretive" not in key and key.endswith(":set")
