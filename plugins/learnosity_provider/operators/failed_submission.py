"""Operators of the failed-submission replay DAG: plan, and settle files and report."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context, ObjectStoragePath, Variable
from airflow.sdk.exceptions import AirflowFailException, AirflowNotFoundException
from pydantic import TypeAdapter, ValidationError

from learnosity_core.failed_submission.landing import (
    ALLOWED_SOURCES_SETTING,
    DEFAULT_SETTLE_S,
    SETTLE_SETTING,
    LandingError,
    landing_location,
    parse_allowed_sources,
    parse_settle_s,
)
from learnosity_core.failed_submission.plan import plan_replay
from learnosity_core.failed_submission.report import publish_replay_report
from learnosity_core.failed_submission.table import TABLE_SETTING, table_blobs
from learnosity_provider import resources
from learnosity_provider.links import LearnosityReportLink
from learnosity_provider.operators.common import dag_and_run, publish_or_fail, typed_param

LANDING_SETTING = "learnosity_failed_submissions_path"
STRICT_SETTING = "learnosity_failed_submissions_strict"


def landing_path(source: str | None) -> ObjectStoragePath:
    """Variable `learnosity_failed_submissions_path` (else a local folder), or the `source` param
    when it names a folder inside it or inside a location of Variable
    `learnosity_failed_submissions_allowed_sources`; any other `source` fails the task before a
    file is touched."""
    default = (resources.learnosity_home() / "failed_submissions").as_uri()
    configured = Variable.get(LANDING_SETTING, default=default)
    try:
        allowed = parse_allowed_sources(Variable.get(ALLOWED_SOURCES_SETTING, default=""))
        location = landing_location(configured, source, allowed)
    except LandingError as exc:
        raise AirflowFailException(str(exc)) from None
    path = ObjectStoragePath(location)
    if location == configured:
        path.mkdir(parents=True, exist_ok=True)
    return path


def settle_s() -> float:
    """Variable `learnosity_failed_submissions_settle_s`: seconds a file must be unchanged (default 60)."""
    try:
        return parse_settle_s(Variable.get(SETTLE_SETTING, default=str(DEFAULT_SETTLE_S)))
    except LandingError as exc:
        raise AirflowFailException(str(exc)) from None


def warehouse_blobs(warehouse_conn_id: str) -> list[tuple[str, str]]:
    """Rows of Variable `learnosity_failed_submissions_table`, when it and the warehouse are set."""
    table = Variable.get(TABLE_SETTING, default="")
    if not table:
        return []
    try:
        engine = resources.sql_engine(warehouse_conn_id)
    except AirflowNotFoundException:
        raise AirflowFailException(
            f"Variable {TABLE_SETTING} names table {table!r}, but connection {warehouse_conn_id} is"
            " not set: create it, or clear the Variable"
        ) from None
    return table_blobs(engine, table)


def strict_checks(requested: bool) -> bool:
    """The `strict` param, or else Variable `learnosity_failed_submissions_strict` (default false)."""
    if requested:
        return True
    value = Variable.get(STRICT_SETTING, default="false")
    try:
        return TypeAdapter(bool).validate_python(value)
    except ValidationError:
        raise AirflowFailException(f"Variable {STRICT_SETTING}: {value!r} is not true or false") from None


class LearnosityReplayPlanOperator(BaseOperator):
    """Collect, validate and deduplicate failed-submission blobs, quarantine bad files, stage batches.

    :param source: a folder inside the landing location (or an allow-listed one); empty: the
        landing location itself.
    :param dry_run: validate and report; move no file and stage nothing.
    :param strict: quarantine blobs failing a *should* check too (no identity found, responses not
        in the shape seen, a date that does not parse); off: Variable `learnosity_failed_submissions_strict`.
    """

    template_fields: Sequence[str] = ("source", "dry_run_requested", "strict")

    def __init__(
        self,
        *,
        source: Any = None,
        dry_run: Any = False,
        strict: Any = False,
        max_shards: int = 16,
        warehouse_conn_id: str = resources.WAREHOUSE_CONN_ID,
        state_conn_id: str = resources.STATE_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.dry_run_requested = dry_run  # `dry_run` is a BaseOperator method
        self.strict = strict
        self.max_shards = max_shards
        self.warehouse_conn_id = warehouse_conn_id
        self.state_conn_id = state_conn_id

    def execute(self, context: Context) -> list[dict[str, Any]]:
        dag_id, run_id = dag_and_run(context)
        dry_run = typed_param(bool, self.dry_run_requested, "dry_run")
        strict = strict_checks(typed_param(bool, self.strict, "strict"))
        landing = landing_path(typed_param(str | None, self.source, "source") or None)
        summary = plan_replay(
            landing,
            warehouse_blobs(self.warehouse_conn_id),
            resources.ledger(self.state_conn_id),
            resources.stage_path(dag_id, run_id),
            dag_id,
            run_id,
            dry_run=dry_run,
            strict=strict,
            max_shards=self.max_shards,
            settle_s=settle_s(),
        )
        self.log.info(
            "Found %d entries: %d waiting, %d skipped, %d invalid, %d duplicates, %d already delivered, "
            "%d to send%s",
            summary.found,
            len(summary.waiting),
            len(summary.skipped),
            sum(summary.invalid_by_reason.values()),
            summary.duplicates,
            summary.already_delivered,
            summary.staged,
            " (dry run: nothing moved or sent)" if dry_run else "",
        )
        return [shard.model_dump() for shard in summary.shards]


class LearnosityReplayReportOperator(BaseOperator):
    """Move each sent file by its job's answer (processed/ or quarantine/), write the report, fail
    if any session failed; the run's stage folder is deleted when nothing failed.

    :param source: the same landing location override the plan task was given.
    """

    template_fields: Sequence[str] = ("source",)
    operator_extra_links = (LearnosityReportLink(),)

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
        # The report states what the submit tasks sent (the run's param, as they read it).
        ignore = typed_param(
            bool | None,
            (context.get("params") or {}).get("ignore_response_revisions"),
            "ignore_response_revisions",
        )
        with resources.retiring_stage(dag_id, run_id):
            published = publish_or_fail(
                lambda: publish_replay_report(
                    resources.ledger(self.state_conn_id),
                    resources.stage_path(dag_id, run_id),
                    landing,
                    resources.reports_path(dag_id, run_id),
                    dag_id,
                    run_id,
                    ignore_response_revisions=ignore,
                ),
                "their files stay for the next run",
            )
        return published.model_dump()
