"""Learnosity's rate limits: per consumer, per action and endpoint, over a sliding window."""

from __future__ import annotations

import threading
import time
from collections import deque
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
        self._hits: dict[tuple[str, str, str], deque[float]] = {}

    def limit_for(self, action: str, endpoint: str) -> int:
        """`SET /sessions` has its own small quota; every other endpoint and action the large one."""
        return self._set_limit if (action, endpoint) == ("set", "sessions") else self._get_limit

    def allow(self, consumer_key: str, action: str, endpoint: str) -> bool:
        """Record the request and say whether it is within the quota (refused ones are not counted)."""
        now = self._clock()
        with self._lock:
            hits = self._hits.setdefault((consumer_key, action, endpoint), deque())
            while hits and hits[0] <= now - self._window_s:
                hits.popleft()
            if len(hits) >= self.limit_for(action, endpoint):
                return False
            hits.append(now)
            return True
