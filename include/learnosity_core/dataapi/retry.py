"""The one retry decision used by the sync and async clients: whether, and after how long."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from learnosity_core.dataapi.errors import DataApiError, RateLimitedError
from learnosity_core.dataapi.settings import DataApiSettings


@dataclass(frozen=True)
class RetryPolicy:
    """Rate limits wait out the window; server and network errors back off exponentially.

    Jitter keeps many threads and processes that failed together from retrying together.
    Validation and authentication errors are never retried: the same request fails the same way.
    """

    max_attempts: int
    backoff_base_s: float
    backoff_cap_s: float
    rate_window_s: float
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    @classmethod
    def from_settings(cls, settings: DataApiSettings) -> RetryPolicy:
        return cls(
            max_attempts=settings.max_attempts,
            backoff_base_s=settings.backoff_base_s,
            backoff_cap_s=settings.backoff_cap_s,
            rate_window_s=settings.window_s + settings.window_margin_s,
        )

    def delay_before_retry(self, error: DataApiError, attempt: int) -> float | None:
        """Seconds to wait before attempt `attempt + 1`, or None to give up and raise `error`."""
        if not error.retryable or attempt >= self.max_attempts:
            return None
        if isinstance(error, RateLimitedError):
            # No Retry-After header exists; the window must pass before the server counts anew.
            return self.rate_window_s * (1 + self.rng.uniform(0.05, 0.25))
        ceiling = min(self.backoff_cap_s, self.backoff_base_s * 2 ** (attempt - 1))
        return self.rng.uniform(ceiling / 2, ceiling)
