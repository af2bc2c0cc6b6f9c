"""The single retry decision: what is retried, how long it waits, and when it gives up."""

from __future__ import annotations

import random

import pytest

from learnosity_core.dataapi.errors import (
    AuthenticationError,
    DataApiError,
    DataApiValidationError,
    RateLimitedError,
    TransientError,
)
from learnosity_core.dataapi.retry import RetryPolicy
from learnosity_core.dataapi.settings import DataApiSettings

POLICY = RetryPolicy(
    max_attempts=4, backoff_base_s=0.5, backoff_cap_s=2.0, rate_window_s=5.0, rng=random.Random(1)
)


@pytest.mark.parametrize("error_class", [AuthenticationError, DataApiValidationError, DataApiError])
def test_refusals_are_never_retried(error_class: type[DataApiError]) -> None:
    assert POLICY.delay_before_retry(error_class("no"), attempt=1) is None


def test_rate_limit_waits_past_the_window() -> None:
    for _ in range(50):
        delay = POLICY.delay_before_retry(RateLimitedError("slow down"), attempt=1)
        assert delay is not None
        assert 5.0 < delay <= 5.0 * 1.25


def test_transient_backoff_grows_with_jitter_up_to_the_cap() -> None:
    ceilings = {1: 0.5, 2: 1.0, 3: 2.0}
    for attempt, ceiling in ceilings.items():
        delays = [POLICY.delay_before_retry(TransientError("5xx"), attempt=attempt) for _ in range(50)]
        assert all(d is not None and ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jittered
    capped = RetryPolicy(max_attempts=20, backoff_base_s=0.5, backoff_cap_s=2.0, rate_window_s=5.0)
    delay = capped.delay_before_retry(TransientError("5xx"), attempt=10)
    assert delay is not None and delay <= 2.0


def test_bounded_by_max_attempts() -> None:
    assert POLICY.delay_before_retry(TransientError("5xx"), attempt=3) is not None
    assert POLICY.delay_before_retry(TransientError("5xx"), attempt=4) is None
    assert POLICY.delay_before_retry(RateLimitedError("429"), attempt=4) is None


def test_from_settings_waits_the_paced_window() -> None:
    settings = DataApiSettings(consumer_key="k", consumer_secret="s", window_s=2.0, window_margin_s=0.5)
    policy = RetryPolicy.from_settings(settings)
    assert policy.rate_window_s == 2.5
    assert policy.max_attempts == settings.max_attempts
