"""Injected faults: the misbehaviour a client must survive, switched on per test or per demo.

Counters (`burst_429`, `drop_after_commit`, `halt_jobs`, `hold_jobs`) are consumed one per occurrence, so a
test can ask for exactly N failures; `error_rate` draws from an RNG seeded by `seed`, so a run
with the same requests fails the same ones.
"""

from __future__ import annotations

import random
import threading
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

CountedFault = Literal["burst_429", "drop_after_commit", "halt_jobs", "hold_jobs"]


class Faults(BaseModel):
    model_config = ConfigDict(extra="forbid")

    error_rate: float = Field(default=0.0, ge=0.0, le=1.0, description="probability of a 500/10000 answer")
    seed: int = Field(default=0, description="seed of the error_rate RNG")
    burst_429: int = Field(default=0, ge=0, description="the next N Data API requests get 429")
    latency_s: float = Field(default=0.0, ge=0.0, description="delay before every Data API answer")
    set_latency_s: float = Field(default=0.0, ge=0.0, description="extra delay for SET /sessions")
    drop_after_commit: int = Field(
        default=0, ge=0, description="the next N SET /sessions commit their job, then get no answer"
    )
    halt_jobs: int = Field(default=0, ge=0, description="the next N jobs end halted, storing nothing")
    deny_sets: bool = Field(
        default=False,
        description="SET /sessions answers 403/40003, as to a consumer without write rights (a key"
        " rotated to read-only): every submit fails for good while the rest works",
    )
    hold_jobs: int = Field(default=0, ge=0, description="the next N jobs stay queued for a day (a stuck job)")


class FaultInjector:
    """The live fault settings; thread-safe, because every request thread consults them."""

    def __init__(self, faults: Faults) -> None:
        self._lock = threading.Lock()
        self._faults = faults
        self._rng = random.Random(faults.seed)

    def set(self, faults: Faults) -> None:
        with self._lock:
            self._faults = faults
            self._rng = random.Random(faults.seed)

    def current(self) -> Faults:
        with self._lock:
            return self._faults.model_copy()

    def latency(self, is_set_sessions: bool) -> float:
        faults = self.current()
        return faults.latency_s + (faults.set_latency_s if is_set_sessions else 0.0)

    def take(self, counter: CountedFault) -> bool:
        """Consume one occurrence of a counted fault; False when none is left."""
        with self._lock:
            left = getattr(self._faults, counter)
            if left <= 0:
                return False
            self._faults = self._faults.model_copy(update={counter: left - 1})
            return True

    def internal_error(self) -> bool:
        with self._lock:
            rate = self._faults.error_rate
            return rate > 0 and self._rng.random() < rate
