"""Process-wide pacing so that all threads and event loops together stay under the rate limit.

The Data API counts request starts per consumer in a sliding window (50 SETs on `sessions`,
about 1000 GETs per 5 s). Every client in the process that talks to the same base URL with the
same consumer key shares one limiter per endpoint class, so concurrent threads of a shard and
the async poller cannot add up to more than the limit.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from enum import StrEnum

from learnosity_core.dataapi.settings import DataApiSettings


class EndpointClass(StrEnum):
    """Rate-limit buckets: writes to `sessions` versus every read."""

    SET = "set"
    GET = "get"


class SlidingWindowLimiter:
    """At most `limit` request starts within any `window_s` seconds.

    `reserve()` never sleeps: it books the earliest free start time and returns how long the
    caller must wait for it, so threads use `time.sleep` and coroutines `asyncio.sleep`.
    """

    def __init__(self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._starts: deque[float] = deque()
        self.limit = 0
        self.window_s = 0.0
        self.configure(limit, window_s)

    def configure(self, limit: int, window_s: float) -> None:
        """Change the budget (e.g. a shard's share); bookings already made stay."""
        if limit < 1 or window_s <= 0:
            raise ValueError(f"need limit >= 1 and window_s > 0, got {limit}, {window_s}")
        with self._lock:
            self.limit = limit
            self.window_s = window_s

    def reserve(self) -> float:
        """Book the next start; return the seconds to wait before starting the request."""
        with self._lock:
            now = self._clock()
            while self._starts and self._starts[0] <= now - self.window_s:
                self._starts.popleft()
            start = now
            if len(self._starts) >= self.limit:
                # Bookings are in time order, so the limit-th latest one decides when a slot frees.
                start = max(now, self._starts[-self.limit] + self.window_s)
            self._starts.append(start)
            return start - now


_registry: dict[tuple[str, str, EndpointClass], SlidingWindowLimiter] = {}
_registry_lock = threading.Lock()


def shared_limiter(
    base_url: str, consumer_key: str, endpoint_class: EndpointClass, limit: int, window_s: float
) -> SlidingWindowLimiter:
    """The process's limiter for this consumer and endpoint class, set to the given budget.

    The latest client's budget wins, so a task that lowers its share takes effect at once.
    """
    key = (base_url, consumer_key, endpoint_class)
    with _registry_lock:
        limiter = _registry.get(key)
        if limiter is None:
            limiter = _registry[key] = SlidingWindowLimiter(limit, window_s)
            return limiter
    limiter.configure(limit, window_s)
    return limiter


def limiters_for(settings: DataApiSettings) -> dict[EndpointClass, SlidingWindowLimiter]:
    """The shared SET and GET limiters for a client with these settings."""
    window = settings.window_s + settings.window_margin_s
    budgets = {
        EndpointClass.SET: settings.set_requests_per_window,
        EndpointClass.GET: settings.get_requests_per_window,
    }
    key = (settings.base_url, settings.consumer_key)
    return {cls: shared_limiter(*key, cls, limit, window) for cls, limit in budgets.items()}
