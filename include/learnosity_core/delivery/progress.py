"""Progress lines for long work: counts, rate and time left, at most every few seconds."""

from __future__ import annotations

import logging
import threading
import time


class Progress:
    """Thread-safe progress counter that logs `done/total (pct), rate, time left`."""

    def __init__(
        self, total: int, what: str, logger: logging.Logger, unit: str = "items", every_s: float = 5.0
    ) -> None:
        self.total = total
        self.what = what
        self.unit = unit
        self._logger = logger
        self._every = every_s
        self._done = 0
        self._start = time.monotonic()
        self._last = self._start
        self._lock = threading.Lock()

    @property
    def done(self) -> int:
        return self._done

    def advance(self, count: int = 1) -> None:
        with self._lock:
            self._done += count
            now = time.monotonic()
            if now - self._last < self._every and self._done < self.total:
                return
            self._last = now
        self._logger.info("%s", self.line())

    def line(self) -> str:
        elapsed = max(time.monotonic() - self._start, 1e-9)
        rate = self._done / elapsed
        left = (self.total - self._done) / rate if rate > 0 else float("nan")
        pct = 100.0 * self._done / self.total if self.total else 100.0
        return (
            f"{self.what}: {self._done}/{self.total} {self.unit} ({pct:.0f}%), "
            f"{rate:.1f} {self.unit}/s, {left:.0f} s left"
        )
