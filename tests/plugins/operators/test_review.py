"""The approval step's own settings; its waiting and answers run for real in tests/dags/test_review.py."""

from __future__ import annotations

from datetime import timedelta

import pytest

from learnosity_provider.operators.review import TIMEOUT_SETTING, LearnosityReviewOperator, approval_timeout


def test_an_unanswered_request_waits_12_hours_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TIMEOUT_SETTING, raising=False)
    assert approval_timeout() == timedelta(hours=12)
    monkeypatch.setenv(TIMEOUT_SETTING, "0.5")
    assert approval_timeout() == timedelta(minutes=30)
    review = LearnosityReviewOperator(task_id="review", plan="template")
    assert review.response_timeout == timedelta(minutes=30)
    assert review.defaults == [review.REJECT], "no answer in time is a rejection: nothing is sent"


@pytest.mark.parametrize("raw", ["twelve", "0", "-1"])
def test_a_bad_timeout_names_its_setting(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv(TIMEOUT_SETTING, raw)
    with pytest.raises(ValueError, match=f"{TIMEOUT_SETTING}='{raw}'"):
        approval_timeout()
