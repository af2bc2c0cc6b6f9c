"""Limits from the environment: minutes, defaults, and a bad value that names its setting."""

from __future__ import annotations

from datetime import timedelta

import pytest

from learnosity_provider.deadlines import job_wait_limit, overdue_alert, run_timeout, task_timeout


def test_defaults_leave_a_nightly_run_hours_and_never_block_the_next_night(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in (
        "LEARNOSITY_TASK_TIMEOUT_MIN",
        "LEARNOSITY_JOB_WAIT_MIN",
        "LEARNOSITY_TEMPLATE_RUN_TIMEOUT_MIN",
    ):
        monkeypatch.delenv(name, raising=False)
    assert task_timeout() == timedelta(hours=3)
    assert job_wait_limit() == timedelta(hours=4)
    assert job_wait_limit() < run_timeout("TEMPLATE", 1200) < timedelta(days=1)


def test_settings_are_minutes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEARNOSITY_JOB_WAIT_MIN", "90")
    monkeypatch.setenv("LEARNOSITY_REPLAY_DEADLINE_MIN", "45")
    assert job_wait_limit() == timedelta(minutes=90)
    alert = overdue_alert("REPLAY", 120)
    assert alert is not None and alert.interval == timedelta(minutes=45)
    assert alert.callback.path == "learnosity_provider.notifications.run_overdue"


@pytest.mark.parametrize("value", ["four hours", "0", "-5"])
def test_a_bad_value_names_the_setting(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("LEARNOSITY_JOB_WAIT_MIN", value)
    with pytest.raises(ValueError, match="LEARNOSITY_JOB_WAIT_MIN="):
        job_wait_limit()


def test_the_deadline_can_be_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEARNOSITY_TEMPLATE_DEADLINE_MIN", "off")
    assert overdue_alert("TEMPLATE", 240) is None
    monkeypatch.delenv("LEARNOSITY_TEMPLATE_DEADLINE_MIN")
    alert = overdue_alert("TEMPLATE", 240)
    assert alert is not None and alert.interval == timedelta(minutes=240)
