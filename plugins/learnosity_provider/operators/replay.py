"""Operators specific to the failed-submission replay DAG: plan and settle-and-report."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from airflow.sdk import BaseOperator, Context, ObjectStoragePath, Variable
from airflow.sdk.exceptions import AirflowNotFoundException

from learnosity_core.extract import Source
from learnosity_core.replay_plan import ReplaySummary, plan_replay, settle_files
from learnosity_core.replay_report import build_replay_report
from learnosity_provider import resources
from learnosity_provider.operators.common import dag_and_run, publish_report

SUMMARY_FILE = "replay.json"


def landing_path(source: str | None) -> ObjectStoragePath:
    """The `source` param, else Variable `learnosity_failed_submissions_path`, else a local folder."""
    default = (resources.learnosity_home() / "failed_submissions").as_uri()
    path = ObjectStoragePath(source or Variable.get("learnosity_failed_submissions_path", default=default))
    path.mkdir(parents=True, exist_ok=True)
    return path


def table_blobs(warehouse_conn_id: str) -> list[tuple[str, str]]:
    """Rows `(blob_id, blob)` of Variable `learnosity_failed_submissions_table`, when it is set."""
    table = Variable.get("learnosity_failed_submissions_table", default="")
    if not table:
        return []
    source = Source(table=table)  # validates the name
    try:
        engine = resources.sql_engine(warehouse_conn_id)
    except AirflowNotFoundException:
        return []
    with engine.connect() as conn:
        rows = conn.execute(sa.text(f"SELECT blob_id, blob FROM {source.from_clause()}"))
        return [(str(blob_id), str(blob)) for blob_id, blob in rows]


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
        landing = landing_path(self.source or None)
        stage = resources.stage_path(dag_id, run_id)
        summary = plan_replay(
            landing,
            table_blobs(self.warehouse_conn_id),
            resources.ledger(self.state_conn_id),
            stage,
            run_id,
            dry_run=bool(self.dry_run_requested),
            max_shards=self.max_shards,
        )
        summary.landing = str(landing)
        (stage / SUMMARY_FILE).write_text(summary.model_dump_json(indent=2))
        self.log.info(
            "Found %d blobs: %d invalid, %d duplicates, %d already delivered, %d to send%s",
            summary.found,
            sum(summary.invalid_by_reason.values()),
            summary.duplicates,
            summary.already_delivered,
            summary.staged,
            " (dry run: nothing moved or sent)" if self.dry_run_requested else "",
        )
        shards = [dict(s.model_dump(), stage=str(stage)) for s in summary.shards]
        return shards


class LearnosityReplayReportOperator(BaseOperator):
    """Move completed sessions' files to processed/, write the report, fail if any session failed."""

    def __init__(self, *, state_conn_id: str = resources.STATE_CONN_ID, **kwargs: Any) -> None:
        kwargs.setdefault("trigger_rule", "all_done")
        super().__init__(**kwargs)
        self.state_conn_id = state_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        dag_id, run_id = dag_and_run(context)
        stage = resources.stage_path(dag_id, run_id)
        summary = ReplaySummary.model_validate_json((stage / SUMMARY_FILE).read_text())
        sessions = resources.ledger(self.state_conn_id).sessions_of_run(run_id)
        completed = [r["session_id"] for r in sessions if r["status"] == "completed"]
        if summary.landing and not summary.dry_run:
            moved = settle_files(ObjectStoragePath(summary.landing), summary, completed)
            self.log.info("Moved %d replayed files to processed/", moved)
        report = build_replay_report(dag_id, summary, sessions)
        out = resources.reports_path(dag_id, run_id)
        path = publish_report(report, out, on_failure="their files stay for the next run")
        return {"report": path, **report.totals()}
