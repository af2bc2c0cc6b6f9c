"""`learnosity_template_reconcile` end to end: late rows the nightly window passed are sent once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.utils.state import DagRunState

NIGHTLY = "learnosity_template_submission"
RECONCILE = "learnosity_template_reconcile"


def test_late_rows_are_missed_by_the_nightly_run_and_sent_once_by_a_reconcile(
    sqlite_pipeline: Any, run_dag: Callable[..., Any]
) -> None:
    pipeline = sqlite_pipeline
    assert run_dag(NIGHTLY).state == DagRunState.SUCCESS
    rows = pipeline.rows
    valid = rows[
        [k in pipeline.valid_sessions() for k in zip(rows["activity_id"], rows["user_id"], strict=True)]
    ]
    paper = valid[valid["user_id"] == valid["user_id"].iloc[0]]
    three_days_ago = (datetime.now(UTC) - timedelta(days=3)).strftime("%Y-%m-%d %H:%M:%S")
    late = paper.assign(user_id="scanned-late", updated_at=three_days_ago)
    late.to_sql("learnosity_responses", pipeline.warehouse, if_exists="append", index=False)
    before = pipeline.writes()

    assert run_dag(NIGHTLY).state == DagRunState.SUCCESS
    assert pipeline.writes() == before, "the nightly window has passed the late rows"

    reconcile = run_dag(RECONCILE)
    assert reconcile.state == DagRunState.SUCCESS
    after = pipeline.writes()
    sent = [s for s in pipeline.stored() if after[s["session_id"]] != before.get(s["session_id"])]
    assert sorted((s["activity_id"], s["user_id"]) for s in sent) == sorted(
        {(a, "scanned-late") for a in late["activity_id"]}
    )
    assert set(after.values()) == {1}, "each session stored once"
    (page,) = pipeline.reports.glob(f"{RECONCILE}/*/summary.txt")
    assert f"{len(sent)} sessions missing in Learnosity, 0 changed since delivered" in page.read_text()

    assert run_dag(RECONCILE).state == DagRunState.SUCCESS
    assert pipeline.writes() == after, "a second reconcile sends nothing"
