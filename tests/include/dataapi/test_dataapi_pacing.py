"""Sliding-window pacing: at most N starts in any window, shared per consumer and endpoint class."""

from __future__ import annotations

import threading

import pytest

from learnosity_core.dataapi.pacing import EndpointClass, SlidingWindowLimiter, limiters_for, shared_limiter
from learnosity_core.dataapi.settings import DataApiSettings


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
