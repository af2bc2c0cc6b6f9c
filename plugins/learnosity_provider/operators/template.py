"""Operators specific to the template-submission DAG: plan, verify by read-back, report.

pandas-backed modules (template_plan, template_report, extract) are imported inside execute(),
so that parsing a DAG file stays cheap.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, Context, ObjectStoragePath

from learnosity_core.progress import Progress
from learnosity_core.staging import read_batch
from learnosity_core.verify import compare_sessions
from learnosity_provider import resources
from learnosity_provider.hooks import LearnosityHook
from learnosity_provider.operators.common import dag_and_run, parse_time, publish_report

if TYPE_CHECKING:
    from learnosity_core.extract import Window
    from learnosity_core.ledger import Ledger


class LearnosityTemplatePlanOperator(BaseOperator):
    """Extract changed sessions, fetch each activity's template once, transform, skip what was
    delivered, stage batches and shards. Returns the shards (what submit maps over).

    :param activity_ids: only these activities (empty: all).
    :param window_start: override the incremental window's start (ISO timestamp, UTC if naive).
    :param window_end: override its end (default: the run's time).
    :param batch_size: sessions per request, 1-50.
    :param force_resubmit: send sessions even when the same content already completed.
    :param dry_run: validate and report, stage and send nothing.
    :param max_shards: at most this many mapped submit tasks.
    """

    template_fields: Sequence[str] = (
        "activity_ids",
        "window_start",
        "window_end",
        "batch_size",
        "force_resubmit",
        "dry_run_requested",
    )

    def __init__(
        self,
        *,
        activity_ids: Any = (),
        window_start: Any = None,
        window_end: Any = None,
        batch_size: Any = 50,
        force_resubmit: Any = False,
        dry_run: Any = False,
        max_shards: int = 64,
        learnosity_conn_id: str = LearnosityHook.default_conn_name,
        warehouse_conn_id: str = resources.WAREHOUSE_CONN_ID,
        state_conn_id: str = resources.STATE_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.activity_ids = activity_ids
        self.window_start = window_start
        self.window_end = window_end
        self.batch_size = batch_size
        self.force_resubmit = force_resubmit
        self.dry_run_requested = dry_run  # `dry_run` is a BaseOperator method
        self.max_shards = max_shards
        self.learnosity_conn_id = learnosity_conn_id
        self.warehouse_conn_id = warehouse_conn_id
        self.state_conn_id = state_conn_id

    def _window(self, context: Context, dag_id: str, ledger: Ledger) -> Window:
        from learnosity_core.extract import Window

        start = parse_time(self.window_start)
        end = parse_time(self.window_end)
        if start is None and self.window_start in (None, ""):
            start = ledger.last_window_end(dag_id)
        if end is None:
            end = context.get("data_interval_end") or datetime.now(UTC)
        return Window(start=start, end=end)

    def execute(self, context: Context) -> list[dict[str, Any]]:
        from learnosity_core.template_plan import PlanRequest, plan_template_run

        dag_id, run_id = dag_and_run(context)
        ledger = resources.ledger(self.state_conn_id)
        window = self._window(context, dag_id, ledger)
        self.log.info("Window: %s to %s", window.start or "the beginning", window.end)
        ledger.start_run(dag_id, run_id, window.start, window.end)
        stage = resources.stage_path(dag_id, run_id)
        with LearnosityHook(self.learnosity_conn_id).get_client() as client:
            summary = plan_template_run(
                engine=resources.sql_engine(self.warehouse_conn_id),
                source=resources.source(),
                window=window,
                fetch_template=lambda activity: client.get_session_template(activity_template_id=activity),
                ledger=ledger,
                stage=stage,
                request=PlanRequest(
                    run_id=run_id,
                    activity_ids=list(self.activity_ids or []),
                    batch_size=int(self.batch_size),
                    max_shards=self.max_shards,
                    force_resubmit=bool(self.force_resubmit),
                    dry_run=bool(self.dry_run_requested),
                ),
            )
        staged = sum(c.sessions_staged for c in summary.activities.values())
        quarantined = sum(c.rows_quarantined for c in summary.activities.values())
        self.log.info(
            "Planned %d sessions in %d shards (%d rows quarantined)%s",
            staged,
            len(summary.shards),
            quarantined,
            " - dry run, nothing staged" if self.dry_run_requested else "",
        )
        shards = [dict(s.model_dump(), stage=str(stage)) for s in summary.shards]
        return shards


class LearnosityVerifyOperator(BaseOperator):
    """Read back this run's completed sessions and compare them with what was sent."""

    template_fields: Sequence[str] = ("enabled",)

    def __init__(
        self,
        *,
        enabled: Any = True,
        learnosity_conn_id: str = LearnosityHook.default_conn_name,
        state_conn_id: str = resources.STATE_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.enabled = enabled
        self.learnosity_conn_id = learnosity_conn_id
        self.state_conn_id = state_conn_id

    def execute(self, context: Context) -> dict[str, int]:
        if not self.enabled:
            self.log.info("Verification switched off for this run")
            return {"verified": 0, "mismatched": 0}
        dag_id, run_id = dag_and_run(context)
        ledger = resources.ledger(self.state_conn_id)
        stage = resources.stage_path(dag_id, run_id)
        completed = {
            r["session_id"]: r["batch_id"]
            for r in ledger.sessions_of_run(run_id)
            if r["status"] == "completed"
        }
        sent: dict[str, dict[str, Any]] = {}
        for batch_id in sorted(set(completed.values())):
            batch = read_batch(stage, f"{batch_id}.json")
            for sid, entry in zip(batch.session_ids, batch.entries, strict=True):
                if sid in completed and isinstance(entry, dict):
                    sent[sid] = entry
        ids = list(sent)
        progress = Progress(len(ids), "read back", logging.getLogger(__name__), unit="sessions")
        stored = []
        with LearnosityHook(self.learnosity_conn_id).get_client() as client:
            for start in range(0, len(ids), 1000):
                for record in client.iter_session_responses(session_ids=ids[start : start + 1000]):
                    stored.append(record.model_dump())
                    progress.advance()
        results = compare_sessions(sent, stored)
        ledger.record_verification(results)
        mismatched = sum(1 for problem in results.values() if problem)
        self.log.info(
            "Verified %d sessions, %d differ from what was sent", len(results) - mismatched, mismatched
        )
        return {"verified": len(results) - mismatched, "mismatched": mismatched}


class LearnosityTemplateReportOperator(BaseOperator):
    """Write the run's HTML report and quarantine CSV, log a summary, and fail the run when any
    job failed or halted (after everything is recorded and reported)."""

    def __init__(self, *, state_conn_id: str = resources.STATE_CONN_ID, **kwargs: Any) -> None:
        kwargs.setdefault("trigger_rule", "all_done")
        super().__init__(**kwargs)
        self.state_conn_id = state_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        from learnosity_core.template_plan import PlanSummary
        from learnosity_core.template_report import build_template_report

        dag_id, run_id = dag_and_run(context)
        ledger = resources.ledger(self.state_conn_id)
        stage = resources.stage_path(dag_id, run_id)
        plan = PlanSummary.model_validate_json((stage / "plan.json").read_text())
        sessions = ledger.sessions_of_run(run_id)
        report = build_template_report(dag_id, plan, sessions)
        out = resources.reports_path(dag_id, run_id)
        if plan.quarantine_csv:
            (out / "quarantine.csv").write_text(ObjectStoragePath(plan.quarantine_csv).read_text())
            report.quarantine_csv = "quarantine.csv"
        path = publish_report(report, out, on_failure="re-sent by the next run")
        if not plan.dry_run:
            ledger.finish_run(dag_id, run_id)
        return {"report": path, **report.totals()}
