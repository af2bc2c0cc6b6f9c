"""Task retries decided by what went wrong (Airflow's `retry_policy`), not by a fixed count alone.

A refused signature, consumer, permission or request fails the same way on every try: the task
fails at once, naming the setting to fix. Timeouts, 5xx and 429 may pass: the task is retried
after an exponentially growing, jittered delay (the client has already retried inside the task),
so many tasks that failed together do not come back together. Anything else keeps the task's
own `retries` / `retry_delay`.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from airflow.sdk import RetryDecision, RetryPolicy

from learnosity_core.dataapi.diagnosis import explain
from learnosity_core.dataapi.errors import DataApiError
from learnosity_core.dataapi.limits import RATE_WINDOW_S
from learnosity_core.dataapi.retry import RetryPolicy as BackoffPolicy
from learnosity_provider.hooks import LearnosityHook


class DataApiRetryPolicy(RetryPolicy):
    """Fail Data API refusals at once; back off exponentially, with jitter, on transient errors.

    :param conn_id: the Learnosity connection the failure messages name.
    :param base_delay: delay before the first retry's ceiling; doubled on every further try.
    :param max_delay: the ceiling no delay passes.
    """

    def __init__(
        self,
        conn_id: str = LearnosityHook.default_conn_name,
        base_delay: timedelta = timedelta(seconds=30),
        max_delay: timedelta = timedelta(minutes=10),
        rng: random.Random | None = None,
    ) -> None:
        self.conn_id = conn_id
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._backoff = BackoffPolicy(
            max_attempts=2**31,  # the task's `retries` bounds the tries, not this policy
            backoff_base_s=base_delay.total_seconds(),
            backoff_cap_s=max_delay.total_seconds(),
            rate_window_s=RATE_WINDOW_S,
            rng=rng or random.Random(),
        )

    def evaluate(
        self, exception: BaseException, try_number: int, max_tries: int, context: Any = None
    ) -> RetryDecision:
        if not isinstance(exception, DataApiError):
            return RetryDecision.default()
        if not exception.retryable:
            return RetryDecision.fail(reason=f"no retry can fix this: {explain(exception, self.conn_id)}")
        # Never None here: the error is retryable and this policy caps no attempts.
        delay = self._backoff.delay_before_retry(exception, max(1, try_number)) or 0.0
        return RetryDecision.retry(
            delay=timedelta(seconds=delay),
            reason=f"{type(exception).__name__} may pass; retrying in {delay:.0f} s",
        )

    def serialize(self) -> dict[str, Any]:
        return {
            "__type": type(self).__name__,
            "conn_id": self.conn_id,
            "base_delay": self.base_delay.total_seconds(),
            "max_delay": self.max_delay.total_seconds(),
        }

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> DataApiRetryPolicy:
        return cls(
            conn_id=data["conn_id"],
            base_delay=timedelta(seconds=data["base_delay"]),
            max_delay=timedelta(seconds=data["max_delay"]),
        )
