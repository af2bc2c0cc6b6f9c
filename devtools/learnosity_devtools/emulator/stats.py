"""Request counts per endpoint and answer, for tooling (e.g. the benchmark checks no 429 was answered)."""

from __future__ import annotations

import threading
from collections import Counter

DROPPED = "dropped"  # a connection closed without an answer (fault drop_after_commit)


class RequestStats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()

    def record(self, endpoint: str, status: int | str) -> None:
        with self._lock:
            self._counts[endpoint, str(status)] += 1

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()

    def snapshot(self) -> dict[str, object]:
        """`{"requests": {endpoint: {status: n}}, "statuses": {status: n}, "total": n}`."""
        with self._lock:
            counts = dict(self._counts)
        requests: dict[str, dict[str, int]] = {}
        statuses: Counter[str] = Counter()
        for (endpoint, status), n in sorted(counts.items()):
            requests.setdefault(endpoint, {})[status] = n
            statuses[status] += n
        return {"requests": requests, "statuses": dict(statuses), "total": sum(statuses.values())}
