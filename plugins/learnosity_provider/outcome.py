"""A run's outcome as its report task saw it, kept next to the report as `outcome.json`.

Alerts, Assets and people read the same numbers from one place. The file is written by the
report task (which runs whatever happened upstream) and read by notifiers, which may run where no
XCom can be pulled (the DAG processor's callbacks, `dag.test()`).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from airflow.sdk import Asset, Context, ObjectStoragePath, get_current_context
from pydantic import BaseModel, Field

from learnosity_core.reporting.report import PublishedReport
from learnosity_provider import resources

log = logging.getLogger(__name__)
OUTCOME_FILE = "outcome.json"
# Report columns that count what was held back rather than sent, per pipeline:
# template submission (rows of held-back activities, quarantined rows), replay (invalid blobs).
HELD_BACK_COLUMNS = ("rows_held_back", "rows_quarantined", "invalid")


class RunOutcome(BaseModel):
    """What one run delivered, failed and held back, where its report is, which steps failed."""

    dag_id: str
    run_id: str
    report: str | None = None
    totals: dict[str, int] = Field(default_factory=dict)
    failed: int = 0
    failed_steps: list[str] = Field(default_factory=list)
    problem: str | None = None  # why no report was written, when none was

    @property
    def delivered(self) -> int:
        return self.totals.get("completed", 0)

    @property
    def held_back(self) -> int:
        return sum(self.totals.get(column, 0) for column in HELD_BACK_COLUMNS)

    def asset_extra(self) -> dict[str, Any]:
        """The Asset event's metadata: small, numbers and the report's location only."""
        return {
            "run_id": self.run_id,
            "delivered": self.delivered,
            "failed": self.failed,
            "quarantined": self.held_back,
            "report": self.report,
        }


def failed_steps(context: Context) -> list[str]:
    """Task ids (mapped ones as `task_index`) that failed in this run before the report task."""
    ti = context.get("ti")
    if ti is None:
        return []
    try:
        states = ti.get_task_states(dag_id=ti.dag_id, run_ids=[ti.run_id]).get(ti.run_id, {})
    except Exception as exc:  # states only enrich the outcome; never lose the report over them
        log.warning("Could not read this run's task states (%s)", exc)
        return []
    return sorted(task for task, state in states.items() if state == "failed" and task != ti.task_id)


def outcome_path(dag_id: str, run_id: str) -> ObjectStoragePath:
    return resources.reports_path(dag_id, run_id) / OUTCOME_FILE


def save_outcome(
    context: Context, published: PublishedReport | None, problem: str | None = None
) -> RunOutcome:
    dag_id, run_id = context["dag"].dag_id, context["run_id"]
    outcome = RunOutcome(
        dag_id=dag_id,
        run_id=run_id,
        report=published.report if published else None,
        totals=published.totals if published else {},
        failed=published.failed if published else 0,
        failed_steps=failed_steps(context),
        problem=problem,
    )
    outcome_path(dag_id, run_id).write_text(outcome.model_dump_json(indent=2), encoding="utf-8")
    return outcome


def record_outcome(published: PublishedReport | None, problem: str | None = None) -> None:
    """Save the running report task's outcome (what alerts read) and put its counts on the task's
    Asset events (they are emitted only if the task succeeds). An operator called outside a
    running task, as in operator tests, has no run to record."""
    try:
        context = get_current_context()
    except RuntimeError:
        return
    outcome = save_outcome(context, published, problem)
    events = context.get("outlet_events")
    task = context.get("task")
    if published is None or events is None or task is None:
        return
    for outlet in task.outlets:
        if isinstance(outlet, Asset):
            events[outlet].extra = outcome.asset_extra()


def load_outcome(dag_id: str, run_id: str) -> RunOutcome | None:
    """The saved outcome, or None when the report task never ran or its file cannot be read."""
    try:
        path = outcome_path(dag_id, run_id)
        if not path.exists():
            return None
        return RunOutcome.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except Exception as exc:
        log.warning("Could not read the outcome of %s %s (%s)", dag_id, run_id, exc)
        return None
