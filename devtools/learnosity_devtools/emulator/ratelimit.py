"""Learnosity's rate limits: per consumer, per action and endpoint, over a sliding window."""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable


class RateLimiter:
    """Counts accepted requests per (consumer, action, endpoint) in the last `window_s` seconds."""

    def __init__(
        self, window_s: float, set_limit: int, get_limit: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._window_s = window_s
        self._set_limit = set_limit
        self._get_limit = get_limit
        self._clock = clock
        self._lock = threading.Lock()
        self._hits: dict[tuple[str, str, str], list[float]] = {}

    def limit_for(self, action: str, endpoint: str) -> int:
        """`SET /sessions` has its own small quota; every other endpoint and action the large one."""
        return self._set_limit if (action, endpoint) == ("set", "sessions") else self._get_limit

    def now(self) -> float:
        """The limiter's clock: stamp a request's arrival with it."""
        return self._clock()

    def allow(self, consumer_key: str, action: str, endpoint: str, arrived: float | None = None) -> bool:
        """Record the request that arrived at `arrived` (default now) and say whether it is within
        the quota (refused ones are not counted). Arrivals are checked as they are stamped, not as
        their threads get here: every window that would hold it must have room."""
        with self._lock:
            now = self._clock() if arrived is None else arrived
            hits = self._hits.setdefault((consumer_key, action, endpoint), [])
            latest = max(hits[-1] if hits else now, now)
            while hits and hits[0] <= latest - 2 * self._window_s:
                hits.pop(0)
            at = bisect.bisect_right(hits, now)
            limit = self.limit_for(action, endpoint)
            # Windows (t - window, t] holding `now` end at `now` or at a later arrival already counted.
            for end in [now, *hits[at:]]:
                if end - now >= self._window_s:
                    break
                inside = bisect.bisect_right(hits, end) - bisect.bisect_right(hits, end - self._window_s)
                if inside >= limit:
                    return False
            hits.insert(at, now)
            return True
