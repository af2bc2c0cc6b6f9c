"""Operators of the submission pipelines: plan, submit a shard, record jobs, verify, report.

Each resolves connections, Variables and folders, then calls the Airflow-free core in
`learnosity_core`; XCom carries only paths, counts and job references.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, Context, ObjectStoragePath
from airflow.sdk.exceptions import AirflowFailException

from learnosity_core.job_outcomes import session_outcomes
from learnosity_core.report import render_html, summary_lines
from learnosity_core.staging import Shard, read_batch, read_shard
from learnosity_core.submission import submit_shard
from learnosity_core.verify import compare_sessions
from learnosity_provider import resources
from learnosity_provider.hooks import LearnosityHook

if TYPE_CHECKING:
    from learnosity_core.extract import Window
    from learnosity_core.ledger import Ledger

# pandas-backed modules (template_plan, template_report) are imported inside execute(), so that
# parsing a DAG file stays cheap.


def _parse_time(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _ids(context: Context) -> tuple[str, str]:
    return context["dag"].dag_id, context["run_id"]


class LearnosityTemplatePlanOperator(BaseOperator):
    """Extract changed sessions, fetch each activity's template once, transform, skip what was
    delivered, stage batches and shards. Pushes `shards` (the list submit maps over) and `stage`.

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
        "dry_run",
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
        self.dry_run = dry_run
        self.max_shards = max_shards
        self.learnosity_conn_id = learnosity_conn_id
        self.warehouse_conn_id = warehouse_conn_id
        self.state_conn_id = state_conn_id

    def _window(self, context: Context, dag_id: str, ledger: Ledger) -> Window:
        from learnosity_core.extract import Window

        start = _parse_time(self.window_start)
        end = _parse_time(self.window_end)
        if start is None and self.window_start in (None, ""):
            start = ledger.last_window_end(dag_id)
        if end is None:
            end = context.get("data_interval_end") or datetime.now(UTC)
        return Window(start=start, end=end)

    def execute(self, context: Context) -> dict[str, Any]:
        from learnosity_core.template_plan import PlanRequest, plan_template_run

        dag_id, run_id = _ids(context)
        ledger = resources.ledger(self.state_conn_id)
        window = self._window(context, dag_id, ledger)
        self.log.info("Window: %s to %s", window.start or "the beginning", window.end)
        ledger.start_run(dag_id, run_id, window.start, window.end)
        stage = resources.stage_path(dag_id, run_id)
        client = LearnosityHook(self.learnosity_conn_id).get_client()
        summary = plan_template_run(
            engine=resources.sql_engine(self.warehouse_conn_id),
            source=resources.source(),
            window=window,
            fetch_template=lambda activity_id: client.get_session_template(activity_template_id=activity_id),
            ledger=ledger,
            stage=stage,
            request=PlanRequest(
                run_id=run_id,
                activity_ids=list(self.activity_ids or []),
                batch_size=int(self.batch_size),
                max_shards=self.max_shards,
                force_resubmit=bool(self.force_resubmit),
                dry_run=bool(self.dry_run),
            ),
        )
        staged = sum(c.sessions_staged for c in summary.activities.values())
        quarantined = sum(c.rows_quarantined for c in summary.activities.values())
        self.log.info(
            "Planned %d sessions in %d shards (%d rows quarantined)%s",
            staged,
            len(summary.shards),
            quarantined,
            " - dry run, nothing staged" if self.dry_run else "",
        )
        shards = [dict(s.model_dump(), stage=str(stage)) for s in summary.shards]
        context["ti"].xcom_push(key="shards", value=shards)
        return {
            "stage": str(stage),
            "shards": len(shards),
            "sessions": staged,
            "rows_quarantined": quarantined,
        }


class LearnositySubmitShardOperator(BaseOperator):
    """Send one shard's batches concurrently within this task's share of the SET rate limit.

    Map it over the planner's `shards`; `map_index_template="{{ task.shard['label'] }}"` gives
    each mapped task a readable label. Returns the shard's job references.
    """

    template_fields: Sequence[str] = ("shard", "ignore_response_revisions")

    def __init__(
        self,
        *,
        shard: Any,
        ignore_response_revisions: Any = False,
        concurrency: int = 4,
        learnosity_conn_id: str = LearnosityHook.default_conn_name,
        state_conn_id: str = resources.STATE_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.shard = shard
        self.ignore_response_revisions = ignore_response_revisions
        self.concurrency = concurrency
        self.learnosity_conn_id = learnosity_conn_id
        self.state_conn_id = state_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        shard = Shard.model_validate(self.shard)
        stage = ObjectStoragePath(self.shard["stage"])
        share = max(1, 50 // resources.parallel_shards())
        client = LearnosityHook(self.learnosity_conn_id).get_client(set_requests_per_window=share)
        self.log.info("%s; rate share %d SET requests per window", shard.label, share)
        result = submit_shard(
            client,
            resources.ledger(self.state_conn_id),
            stage,
            shard.shard,
            read_shard(stage, shard.shard),
            concurrency=self.concurrency,
            ignore_response_revisions=True if self.ignore_response_revisions else None,
        )
        self.log.info(
            "%s: posted %d batches, resumed %d already posted",
            shard.label,
            result.batches_posted,
            result.batches_resumed,
        )
        return result.model_dump()


class LearnosityRecordJobsOperator(BaseOperator):
    """Read every job of this run and write per-session outcomes (and job errors) to the ledger."""

    def __init__(
        self,
        *,
        learnosity_conn_id: str = LearnosityHook.default_conn_name,
        state_conn_id: str = resources.STATE_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.learnosity_conn_id = learnosity_conn_id
        self.state_conn_id = state_conn_id

    def execute(self, context: Context) -> dict[str, int]:
        _, run_id = _ids(context)
        ledger = resources.ledger(self.state_conn_id)
        jobs_sessions = ledger.jobs_of_run(run_id)
        client = LearnosityHook(self.learnosity_conn_id).get_client()
        jobs = {j.reference: j for j in client.get_jobs(list(jobs_sessions))} if jobs_sessions else {}
        counts = {"jobs": len(jobs_sessions), "completed": 0, "failed": 0}
        for reference, session_ids in jobs_sessions.items():
            outcomes = session_outcomes(jobs.get(reference), session_ids, reference)
            ledger.record_job(
                reference, str(jobs[reference].status) if reference in jobs else "unknown", outcomes
            )
            for outcome in outcomes:
                counts[outcome.status.value] = counts.get(outcome.status.value, 0) + 1
        self.log.info(
            "Recorded %d jobs: %d sessions completed, %d failed",
            counts["jobs"],
            counts["completed"],
            counts["failed"],
        )
        return counts


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
        dag_id, run_id = _ids(context)
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
        client = LearnosityHook(self.learnosity_conn_id).get_client()
        ids = list(sent)
        stored = [
            record.model_dump()
            for start in range(0, len(ids), 1000)
            for record in client.iter_session_responses(session_ids=ids[start : start + 1000])
        ]
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

        dag_id, run_id = _ids(context)
        ledger = resources.ledger(self.state_conn_id)
        stage = resources.stage_path(dag_id, run_id)
        plan = PlanSummary.model_validate_json((stage / "plan.json").read_text())
        sessions = ledger.sessions_of_run(run_id)
        report = build_template_report(dag_id, plan, sessions)
        out = resources.reports_path(dag_id, run_id)
        if plan.quarantine_csv:
            (out / "quarantine.csv").write_text(ObjectStoragePath(plan.quarantine_csv).read_text())
            report.quarantine_csv = "quarantine.csv"
        (out / "report.html").write_text(render_html(report))
        for line in summary_lines(report):
            self.log.info("%s", line)
        self.log.info("Report: %s", out / "report.html")
        if report.failed:
            raise AirflowFailException(f"{report.failed} sessions failed; see {out / 'report.html'}")
        if not plan.dry_run:
            ledger.finish_run(dag_id, run_id)
        return {"report": str(out / "report.html"), **report.totals()}
