"""Request counts per endpoint and answer, the requests being answered now, and when each accepted
SET arrived, for tooling (the benchmark checks no 429 was answered and sees how close the SETs came
to the rate limit; a fault test waits until a SET is in the emulator's hands)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

DROPPED = "dropped"  # a connection closed without an answer (fault drop_after_commit)


class RequestStats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()
        self._set_arrivals: list[float] = []
        self._answering: Counter[str] = Counter()

    @contextmanager
    def answering(self, endpoint: str) -> Iterator[None]:
        """A Data API request being answered (its latency, the endpoint's work) while inside."""
        with self._lock:
            self._answering[endpoint] += 1
        try:
            yield
        finally:
            with self._lock:
                self._answering[endpoint] -= 1

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
        "answering": {endpoint: n}, "set_arrivals": [seconds after the first accepted SET, in order]}`."""
        with self._lock:
            counts = dict(self._counts)
            answering = {endpoint: n for endpoint, n in sorted(self._answering.items()) if n}
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
            "answering": answering,
            "set_arrivals": [round(t - arrivals[0], 4) for t in arrivals],
        }
