"""How long the shared back half lets a review wait, against the run's own timeout."""

from __future__ import annotations

from datetime import timedelta

import pytest
from airflow.sdk import DAG, BaseOperator

from learnosity_provider.operators.review import TIMEOUT_SETTING
from learnosity_provider.pipeline import SEND_MARGIN, _answer_within


def _plan(run_timeout: timedelta | None) -> BaseOperator:
    with DAG("lrn_pipeline_probe", schedule=None, dagrun_timeout=run_timeout):
        return BaseOperator(task_id="plan")


@pytest.mark.parametrize(
    ("hours", "run_timeout", "expected"),
    [
        ("12", None, timedelta(hours=12)),  # no run timeout: the setting as given
        ("12", timedelta(hours=20), timedelta(hours=12)),  # fits: the setting as given
        ("12", timedelta(hours=6), timedelta(hours=6) - SEND_MARGIN),  # leaves time to send
        ("12", timedelta(hours=1), timedelta(minutes=30)),  # a short run: half of it
        (str(1 / 3600), timedelta(hours=6), timedelta(seconds=1)),  # shorter is never lengthened
    ],
)
def test_a_review_answers_before_the_run_times_out(
    monkeypatch: pytest.MonkeyPatch, hours: str, run_timeout: timedelta | None, expected: timedelta
) -> None:
    monkeypatch.setenv(TIMEOUT_SETTING, hours)
    waited = _answer_within(_plan(run_timeout))
    assert abs(waited - expected) < timedelta(milliseconds=1)
    if run_timeout is not None:
        assert waited < run_timeout
