"""Operators of the template-submission DAG: plan and report.

pandas-backed core modules (plan, report, extract) are imported inside execute(), so that
parsing a DAG file stays cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

from airflow.sdk import BaseOperator, Context, ObjectStoragePath
from airflow.sdk.exceptions import AirflowFailException
from pydantic import Field

from learnosity_core.dataapi.limits import MAX_SESSIONS_PER_SET
from learnosity_core.delivery.warehouse import SourceError
from learnosity_core.template_submission.templates import TemplateMapError, fetcher
from learnosity_provider import resources
from learnosity_provider.hooks import LearnosityHook
from learnosity_provider.links import LearnosityReportLink
from learnosity_provider.operators.common import (
    dag_and_run,
    failing_fast,
    publish_or_fail,
    typed_param,
    typed_request,
)
from learnosity_provider.operators.review import review_thresholds

if TYPE_CHECKING:
    from learnosity_core.dataapi.settings import DataApiSettings
    from learnosity_core.delivery.ledger import Ledger


class LearnosityTemplatePlanOperator(BaseOperator):
    """Extract changed sessions, fetch each activity's template once, transform, skip what was
    delivered, stage batches and shards. Returns the shards (what submit maps over).

    :param activity_ids: only these activities (empty: all).
    :param window_start: override the incremental window's start (ISO timestamp, UTC if naive).
    :param window_end: override its end (default: the run's data interval end).
    :param batch_size: sessions per request, 1-50.
    :param force_resubmit: send sessions even when the same content already completed.
    :param dry_run: validate and report, stage and send nothing.
    :param max_shards: at most this many mapped submit tasks (default: the `learnosity_api` pool
        size, Variable `learnosity_parallel_shards`: a few long submitters, each streaming its
        batches, so task start-up is negligible).
    :param reconcile: ignore the window; send every session since `reconcile_since` that the
        ledger does not hold as delivered with the same content.
    :param reconcile_since: how far back a reconcile looks (default 30 days).
    :param send_while_planning: send batches as they are staged while the run needs no review
        (`require_approval`, `approval_above_sessions`, `approval_above_quarantine_share` as the
        review reads them); only with a shared rate budget (the connection's `rate_limiter_url`),
        so the plan's sending and the submit tasks' never add up past the limit.
    :param verify: read back what is sent while planning (as the submit tasks do).
    """

    template_fields: Sequence[str] = (
        "activity_ids",
        "window_start",
        "window_end",
        "batch_size",
        "force_resubmit",
        "dry_run_requested",
        "reconcile",
        "reconcile_since",
        "require_approval",
        "above_sessions",
        "above_quarantine_share",
        "ignore_response_revisions",
        "verify",
    )

    def __init__(
        self,
        *,
        activity_ids: Any = (),
        window_start: Any = None,
        window_end: Any = None,
        batch_size: Any = MAX_SESSIONS_PER_SET,
        force_resubmit: Any = False,
        dry_run: Any = False,
        reconcile: Any = False,
        reconcile_since: Any = None,
        max_shards: int | None = None,
        send_while_planning: bool = False,
        require_approval: Any = False,
        above_sessions: Any = None,
        above_quarantine_share: Any = None,
        ignore_response_revisions: Any = False,
        verify: Any = True,
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
        self.reconcile = reconcile
        self.reconcile_since = reconcile_since
        self.max_shards = max_shards
        self.send_while_planning = send_while_planning
        self.require_approval = require_approval
        self.above_sessions = above_sessions
        self.above_quarantine_share = above_quarantine_share
        self.ignore_response_revisions = ignore_response_revisions
        self.verify = verify
        self.learnosity_conn_id = learnosity_conn_id
        self.warehouse_conn_id = warehouse_conn_id
        self.state_conn_id = state_conn_id

    def execute(self, context: Context) -> list[dict[str, Any]]:
        from learnosity_core.template_submission.plan import PlanRequest, plan_template_run

        dag_id, run_id = dag_and_run(context)
        request = typed_request(
            PlanRequest,
            run_id=run_id,
            activity_ids=self.activity_ids,
            window_start=self.window_start,
            window_end=self.window_end,
            batch_size=self.batch_size,
            max_shards=self.max_shards or resources.parallel_shards(),
            force_resubmit=self.force_resubmit,
            dry_run=self.dry_run_requested,
            reconcile=self.reconcile,
            reconcile_since=self.reconcile_since,
        )
        try:
            template_map = resources.template_map(self.warehouse_conn_id)
        except (TemplateMapError, SourceError) as exc:
            raise AirflowFailException(str(exc)) from None
        hook = LearnosityHook(self.learnosity_conn_id)
        ledger = resources.ledger(self.state_conn_id)
        stage = resources.stage_path(dag_id, run_id)
        with failing_fast(self.learnosity_conn_id), hook.get_client() as client:
            streams = self._streams(client.settings, request.dry_run)
            stream = self._stream(client.settings, ledger, stage) if streams else None
            with stream or nullcontext() as sending:
                summary = plan_template_run(
                    engine=resources.sql_engine(self.warehouse_conn_id),
                    source=resources.source(),
                    fetch_template=fetcher(client),
                    template_map=template_map,
                    stream=sending,
                    ledger=ledger,
                    stage=stage,
                    request=request,
                    dag_id=dag_id,
                    run_end=context.get("data_interval_end") or datetime.now(UTC),
                )
        staged = sum(c.sessions_staged for c in summary.activities.values())
        quarantined = sum(c.rows_quarantined for c in summary.activities.values())
        held_back = sum(1 for c in summary.activities.values() if c.held_back)
        self.log.info(
            "Planned %d sessions in %d shards (%d rows quarantined, %d activities held back)%s",
            staged,
            len(summary.shards),
            quarantined,
            held_back,
            " - dry run, nothing staged" if request.dry_run else "",
        )
        return [shard.model_dump() for shard in summary.shards]

    def _streams(self, settings: DataApiSettings, dry_run: bool) -> bool:
        """Send while planning only into a budget shared with the submit tasks (Redis)."""
        return self.send_while_planning and not dry_run and settings.rate_limiter_url is not None

    def _stream(self, settings: DataApiSettings, ledger: Ledger, stage: ObjectStoragePath) -> Any:
        from learnosity_core.delivery.streaming import plan_stream

        ignore = typed_param(bool, self.ignore_response_revisions, "ignore_response_revisions")
        return plan_stream(
            settings,
            ledger,
            stage,
            review_thresholds(self.above_sessions, self.above_quarantine_share),
            requested=typed_param(bool, self.require_approval, "require_approval"),
            verify=typed_param(bool, self.verify, "verify"),
            ignore_response_revisions=True if ignore else None,
        )


class LearnosityTemplateReportOperator(BaseOperator):
    """Write the run's HTML report and quarantine CSV, log a summary, and fail the run (after
    everything is recorded and reported) unless it delivered everything: a session failed or was
    rejected, an activity was held back, or more than `max_quarantine_share` of the rows read were
    quarantined or held back. The run's stage folder is deleted when it delivered everything.

    :param max_quarantine_share: 0-1; empty: Variable `learnosity_max_quarantine_share`, else 0.2.
    """

    template_fields: Sequence[str] = ("max_quarantine_share",)
    operator_extra_links = (LearnosityReportLink(),)

    def __init__(
        self,
        *,
        max_quarantine_share: Any = None,
        state_conn_id: str = resources.STATE_CONN_ID,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("trigger_rule", "all_done")
        super().__init__(**kwargs)
        self.max_quarantine_share = max_quarantine_share
        self.state_conn_id = state_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        from learnosity_core.template_submission.report import publish_template_report

        dag_id, run_id = dag_and_run(context)
        share = typed_param(
            Annotated[float, Field(ge=0, le=1)],
            resources.max_quarantine_share(self.max_quarantine_share),
            "max_quarantine_share",
        )
        # The report states what the submit tasks sent (the run's param, as they read it).
        ignore = typed_param(
            bool | None,
            (context.get("params") or {}).get("ignore_response_revisions"),
            "ignore_response_revisions",
        )
        with resources.retiring_stage(dag_id, run_id):
            published = publish_or_fail(
                lambda: publish_template_report(
                    resources.ledger(self.state_conn_id),
                    resources.stage_path(dag_id, run_id),
                    resources.reports_path(dag_id, run_id),
                    dag_id,
                    run_id,
                    max_quarantine_share=share,
                    ignore_response_revisions=ignore,
                ),
                "re-sent by the next run",
            )
        return published.model_dump()
