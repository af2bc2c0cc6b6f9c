"""Sliding-window pacing: at most N starts in any window, shared per consumer and endpoint class."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator

import pytest
import redis

from learnosity_core.dataapi.pacing import (
    EndpointClass,
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


def starts_of(limiter: SlidingWindowLimiter, clock: FakeClock, count: int) -> list[float]:
    return [clock.now + limiter.reserve() for _ in range(count)]


def test_no_window_ever_holds_more_than_the_limit() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(5, 1.0, clock=clock)
    starts = starts_of(limiter, clock, 12)
    assert starts[:5] == [100.0] * 5
    assert starts[5:10] == [101.0] * 5
    assert starts[10:] == [102.0] * 2
    for start in starts:
        assert sum(1 for s in starts if start <= s < start + 1.0) <= 5


def test_freed_slots_are_reused_after_the_window() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(2, 1.0, clock=clock)
    assert starts_of(limiter, clock, 2) == [100.0, 100.0]
    clock.now = 101.5
    assert limiter.reserve() == 0.0


def test_a_lower_share_applies_at_once() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(50, 5.0, clock=clock)
    limiter.configure(2, 5.0)
    assert starts_of(limiter, clock, 3) == [100.0, 100.0, 105.0]


def test_invalid_budget_refused() -> None:
    with pytest.raises(ValueError):
        SlidingWindowLimiter(0, 1.0)


def test_threads_get_distinct_paced_slots() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(5, 1.0, clock=clock)
    delays: list[float] = []
    lock = threading.Lock()

    def book() -> None:
        for _ in range(4):
            delay = limiter.reserve()
            with lock:
                delays.append(delay)

    threads = [threading.Thread(target=book) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(delays) == [0.0] * 5 + [1.0] * 5 + [2.0] * 2


def test_one_limiter_per_consumer_and_endpoint_class() -> None:
    one = DataApiSettings(base_url="http://pacing.test", consumer_key="consumer-one", consumer_secret="s")
    again = one.model_copy(update={"set_requests_per_window": 7})
    other = one.model_copy(update={"consumer_key": "consumer-two"})
    first, second, third = limiters_for(one), limiters_for(again), limiters_for(other)
    assert first[EndpointClass.SET] is second[EndpointClass.SET]
    assert first[EndpointClass.SET] is not first[EndpointClass.GET]
    assert first[EndpointClass.SET] is not third[EndpointClass.SET]
    assert first[EndpointClass.SET].limit == 7  # the latest client's share wins
    assert first[EndpointClass.SET].window_s == pytest.approx(one.window_s + one.window_margin_s)


def test_shared_limiter_registry_returns_the_same_object() -> None:
    a = shared_limiter("http://registry.test", "k", EndpointClass.GET, 10, 1.0)
    b = shared_limiter("http://registry.test", "k", EndpointClass.GET, 10, 1.0)
    assert a is b


# -- across processes, in the Redis the cluster already runs ----------------------------------------


@pytest.fixture
def redis_key_name(redis_available: None) -> Iterator[str]:
    """A booking key of this test's own, deleted afterwards."""
    key = f"learnosity:test:{uuid.uuid4().hex}"
    yield key
    redis.Redis.from_url(REDIS_URL).delete(key)


# Another process books `count` starts (limit 5 per second) and prints their epoch times.
_BOOK_IN_REDIS = """
import json, sys, time
import redis
from learnosity_core.dataapi.pacing import RedisWindowLimiter
limiter = RedisWindowLimiter(redis.Redis.from_url(sys.argv[1]), sys.argv[2], 5, 1.0)
print(json.dumps([time.time() + limiter.reserve() for _ in range(int(sys.argv[3]))]))
"""


def test_processes_booking_in_redis_share_one_window(redis_key_name: str) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _BOOK_IN_REDIS, REDIS_URL, redis_key_name, "6"], stdout=subprocess.PIPE
        )
        for _ in range(3)
    ]
    starts = sorted(s for proc in procs for s in json.loads(proc.communicate(timeout=60)[0]))
    assert len(starts) == 18
    # Any 1 s window holds at most 5 of the 18 starts (0.1 s for reading the clock after the booking
    # on a busy machine); without the shared budget all 18 would start at once.
    for start in starts:
        assert sum(1 for s in starts if start <= s < start + 0.9) <= 5
    assert starts[-1] - starts[0] >= 3.0  # 18 starts at 5 per second: four windows


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
    try:
        assert isinstance(first[EndpointClass.SET], RedisWindowLimiter)
        delays = [first[EndpointClass.SET].reserve(), second[EndpointClass.SET].reserve()]
        delays += [first[EndpointClass.SET].reserve(), second[EndpointClass.SET].reserve()]
        assert delays[:3] == pytest.approx([0.0] * 3, abs=0.05)
        assert delays[3] == pytest.approx(2.0, abs=0.05)  # the 4th start waits for the 1st to leave
        assert third[EndpointClass.SET].reserve() == pytest.approx(0.0, abs=0.05)  # its own budget
        assert first[EndpointClass.GET].reserve() == pytest.approx(0.0, abs=0.05)  # reads: their own
    finally:
        redis.Redis.from_url(REDIS_URL).delete(
            *(
                redis_key("http://pacing.test", c, cls)
                for c in (consumer, consumer + "-other")
                for cls in EndpointClass
            )
        )


def test_redis_key_names_no_consumer() -> None:
    key = redis_key("http://pacing.test", "consumer-secretive", EndpointClass.SET)
    assert "consumer-secretive" not in key and key.endswith(":set")
