"""Request counts per endpoint and answer, and when each accepted SET arrived, for tooling (the
benchmark checks no 429 was answered and sees how close the SETs came to the rate limit)."""

from __future__ import annotations

import threading
from collections import Counter

DROPPED = "dropped"  # a connection closed without an answer (fault drop_after_commit)


class RequestStats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()
        self._set_arrivals: list[float] = []

    def record_set_arrival(self, arrived: float) -> None:
        """An accepted `SET /sessions`, stamped on the rate limiter's clock."""
        with self._lock:
            self._set_arrivals.append(arrived)

    def record(self, endpoint: str, status: int | str) -> None:
        with self._lock:
            self._counts[endpoint, str(status)] += 1

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()
            self._set_arrivals.clear()

    def snapshot(self) -> dict[str, object]:
        """`{"requests": {endpoint: {status: n}}, "statuses": {status: n}, "total": n,
        "set_arrivals": [seconds after the first accepted SET, in order]}`."""
        with self._lock:
            counts = dict(self._counts)
            arrivals = sorted(self._set_arrivals)
        requests: dict[str, dict[str, int]] = {}
        statuses: Counter[str] = Counter()
        for (endpoint, status), n in sorted(counts.items()):
            requests.setdefault(endpoint, {})[status] = n
            statuses[status] += n
        return {
            "requests": requests,
            "statuses": dict(statuses),
            "total": sum(statuses.values()),
            "set_arrivals": [round(t - arrivals[0], 4) for t in arrivals],
        }
