"""Retries by error kind: refusals fail at once naming the setting, transient errors back off."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from airflow.sdk import RetryAction

from learnosity_core.dataapi.errors import classify
from learnosity_provider.retries import DataApiRetryPolicy


def _policy() -> DataApiRetryPolicy:
    return DataApiRetryPolicy(
        base_delay=timedelta(seconds=30), max_delay=timedelta(minutes=10), rng=random.Random(7)
    )


@pytest.mark.parametrize(
    ("status", "code", "setting"),
    [
        (401, 41001, "consumer key (login) / consumer secret (password) of connection learnosity_default"),
        (403, 41005, "domain (extra `domain`) of connection learnosity_default"),
        (400, 20012, "host (the Data API base URL) or LTS version"),
        (400, 20000, None),  # a refused request: no setting to name, still never retried
    ],
)
def test_refusals_fail_at_once_naming_the_setting(status: int, code: int, setting: str | None) -> None:
    error = classify(status, code, "refused", endpoint="set sessions")
    decision = _policy().evaluate(error, try_number=1, max_tries=3)
    assert decision.action == RetryAction.FAIL
    assert decision.reason is not None and "no retry can fix this" in decision.reason
    if setting:
        assert setting in decision.reason


@pytest.mark.parametrize(("status", "code"), [(500, 10000), (503, None), (429, 42000)])
def test_transient_errors_retry_with_a_jittered_growing_delay(status: int, code: int | None) -> None:
    error = classify(status, code, "busy", endpoint="set sessions")
    policy = _policy()
    delays = []
    for try_number in (1, 2, 3, 4, 5, 6, 7):
        decision = policy.evaluate(error, try_number=try_number, max_tries=8)
        assert decision.action == RetryAction.RETRY and decision.retry_delay is not None
        delays.append(decision.retry_delay.total_seconds())
    if status == 429:  # wait out the rate window, with jitter
        assert all(5 <= d <= 5 * 1.25 for d in delays) and len(set(delays)) > 1
        return
    for try_number, delay in enumerate(delays, start=1):
        ceiling = min(600, 30 * 2 ** (try_number - 1))
        assert ceiling / 2 <= delay <= ceiling
    assert delays[3] > delays[0] and max(delays) <= 600


def test_other_errors_keep_the_tasks_own_retries() -> None:
    decision = _policy().evaluate(OSError("disk full"), try_number=1, max_tries=3)
    assert decision.action == RetryAction.DEFAULT


def test_the_policy_round_trips_through_serialization() -> None:
    policy = _policy()
    again = DataApiRetryPolicy.deserialize(policy.serialize())
    assert again.conn_id == "learnosity_default"
    assert (again.base_delay, again.max_delay) == (policy.base_delay, policy.max_delay)
