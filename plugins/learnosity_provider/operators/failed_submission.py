"""Operators of the failed-submission replay DAG: plan, and settle files and report."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context, ObjectStoragePath, Variable
from airflow.sdk.exceptions import AirflowNotFoundException

from learnosity_core.failed_submission.plan import plan_replay
from learnosity_core.failed_submission.report import publish_replay_report
from learnosity_core.failed_submission.table import TABLE_SETTING, table_blobs
from learnosity_provider import resources
from learnosity_provider.operators.common import dag_and_run, publish_or_fail, typed_param

LANDING_SETTING = "learnosity_failed_submissions_path"


def landing_path(source: str | None) -> ObjectStoragePath:
    """The `source` param, else Variable `learnosity_failed_submissions_path`, else a local folder."""
    default = (resources.learnosity_home() / "failed_submissions").as_uri()
    path = ObjectStoragePath(source or Variable.get(LANDING_SETTING, default=default))
    path.mkdir(parents=True, exist_ok=True)
    return path


def warehouse_blobs(warehouse_conn_id: str) -> list[tuple[str, str]]:
    """Rows of Variable `learnosity_failed_submissions_table`, when it and the warehouse are set."""
    table = Variable.get(TABLE_SETTING, default="")
    if not table:
        return []
    try:
        engine = resources.sql_engine(warehouse_conn_id)
    except AirflowNotFoundException:
        return []
    return table_blobs(engine, table)


class LearnosityReplayPlanOperator(BaseOperator):
    """Collect, validate and deduplicate failed-submission blobs, quarantine bad files, stage batches.

    :param source: landing location override (any fsspec URL); empty: the Variable or default.
    :param dry_run: validate and report; move no file and stage nothing.
    """

    template_fields: Sequence[str] = ("source", "dry_run_requested")

    def __init__(
        self,
        *,
        source: Any = None,
        dry_run: Any = False,
        max_shards: int = 16,
        warehouse_conn_id: str = resources.WAREHOUSE_CONN_ID,
        state_conn_id: str = resources.STATE_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.dry_run_requested = dry_run  # `dry_run` is a BaseOperator method
        self.max_shards = max_shards
        self.warehouse_conn_id = warehouse_conn_id
        self.state_conn_id = state_conn_id

    def execute(self, context: Context) -> list[dict[str, Any]]:
        dag_id, run_id = dag_and_run(context)
        dry_run = typed_param(bool, self.dry_run_requested, "dry_run")
        summary = plan_replay(
            landing_path(typed_param(str | None, self.source, "source") or None),
            warehouse_blobs(self.warehouse_conn_id),
            resources.ledger(self.state_conn_id),
            resources.stage_path(dag_id, run_id),
            run_id,
            dry_run=dry_run,
            max_shards=self.max_shards,
        )
        self.log.info(
            "Found %d blobs: %d invalid, %d duplicates, %d already delivered, %d to send%s",
            summary.found,
            sum(summary.invalid_by_reason.values()),
            summary.duplicates,
            summary.already_delivered,
            summary.staged,
            " (dry run: nothing moved or sent)" if dry_run else "",
        )
        return [shard.model_dump() for shard in summary.shards]


class LearnosityReplayReportOperator(BaseOperator):
    """Move completed sessions' files to processed/, write the report, fail if any session failed.

    :param source: the same landing location override the plan task was given.
    """

    template_fields: Sequence[str] = ("source",)

    def __init__(
        self, *, source: Any = None, state_conn_id: str = resources.STATE_CONN_ID, **kwargs: Any
    ) -> None:
        kwargs.setdefault("trigger_rule", "all_done")
        super().__init__(**kwargs)
        self.source = source
        self.state_conn_id = state_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        dag_id, run_id = dag_and_run(context)
        landing = landing_path(typed_param(str | None, self.source, "source") or None)
        published = publish_or_fail(
            lambda: publish_replay_report(
                resources.ledger(self.state_conn_id),
                resources.stage_path(dag_id, run_id),
                landing,
                resources.reports_path(dag_id, run_id),
                dag_id,
                run_id,
            ),
            "their files stay for the next run",
        )
        return published.model_dump()
