"""`learnosity_template_reconcile` end to end: late rows the nightly window passed are sent once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow.utils.state import DagRunState

from learnosity_devtools.sample_data import load_late_rows

NIGHTLY = "learnosity_template_submission"
RECONCILE = "learnosity_template_reconcile"


def test_late_rows_are_missed_by_the_nightly_run_and_sent_once_by_a_reconcile(
    sqlite_pipeline: Any, run_dag: Callable[..., Any]
) -> None:
    pipeline = sqlite_pipeline
    assert run_dag(NIGHTLY).state == DagRunState.SUCCESS
    late = load_late_rows(pipeline.warehouse, pipeline.rows, learners=1, days=3)
    before = pipeline.writes()

    assert run_dag(NIGHTLY).state == DagRunState.SUCCESS
    assert pipeline.writes() == before, "the nightly window has passed the late rows"

    reconcile = run_dag(RECONCILE)
    assert reconcile.state == DagRunState.SUCCESS
    after = pipeline.writes()
    sent = [s for s in pipeline.stored() if after[s["session_id"]] != before.get(s["session_id"])]
    assert sorted((s["activity_id"], s["user_id"]) for s in sent) == sorted(
        set(zip(late["activity_id"], late["user_id"], strict=True))
    )
    assert set(after.values()) == {1}, "each session stored once"
    (page,) = pipeline.reports.glob(f"{RECONCILE}/*/summary.txt")
    assert f"{len(sent)} sessions missing in Learnosity, 0 changed since delivered" in page.read_text()

    assert run_dag(RECONCILE).state == DagRunState.SUCCESS
    assert pipeline.writes() == after, "a second reconcile sends nothing"
