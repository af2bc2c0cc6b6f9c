"""
### Learnosity template submission

Nightly upload of paper-based assessment responses into Learnosity through the Data API
(`SET /sessions`, `data_format: from_template`).

1. **plan**: read the sessions that changed in the window from `learnosity_warehouse`, fetch each
   activity's template once, transform the rows into response objects, hold back invalid
   sessions (quarantine), skip sessions whose same content was already delivered, and stage
   batches of at most 50 sessions in shards.
2. **submit**: one mapped task per shard (pool `learnosity_api`), batches sent concurrently.
3. **wait_for_jobs**: deferrable wait on every job reference.
4. **record_jobs** / **verify**: per-session outcomes into the ledger, then read-back.
5. **report**: HTML report + quarantine CSV; the run fails here if any job failed or halted.

Schedule: `LEARNOSITY_TEMPLATE_CRON` (default `0 2 * * *`) in `LEARNOSITY_TIMEZONE` (default UTC);
job polling every `LEARNOSITY_JOB_POLL_S` seconds (default 10).
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronTriggerTimetable, Param

from learnosity_provider.assets import TEMPLATE_SESSIONS
from learnosity_provider.deadlines import overdue_alert, run_timeout, task_timeout
from learnosity_provider.notifications import LearnosityRunNotifier
from learnosity_provider.operators.template_submission import (
    LearnosityTemplatePlanOperator,
    LearnosityTemplateReportOperator,
)
from learnosity_provider.operators.verify import LearnosityVerifyOperator
from learnosity_provider.pipeline import submit_and_wait
from learnosity_provider.retries import DataApiRetryPolicy

with DAG(
    dag_id="learnosity_template_submission",
    description="Warehouse responses -> Learnosity sessions (from_template), verified and reported",
    doc_md=__doc__,
    schedule=CronTriggerTimetable(
        os.environ.get("LEARNOSITY_TEMPLATE_CRON", "0 2 * * *"),
        timezone=os.environ.get("LEARNOSITY_TIMEZONE", "UTC"),
    ),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    render_template_as_native_obj=True,
    tags=["learnosity", "data-api", "sessions"],
    default_args={
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "retry_policy": DataApiRetryPolicy(),
        "execution_timeout": task_timeout(),
    },
    dagrun_timeout=run_timeout("TEMPLATE", 1200),
    deadline=overdue_alert("TEMPLATE", 240),
    on_failure_callback=LearnosityRunNotifier(),
    on_success_callback=LearnosityRunNotifier(succeeded=True),
    params={
        "activity_ids": Param(
            [], type="array", items={"type": "string"}, description="Only these activities (empty: all)."
        ),
        "window_start": Param(
            None,
            type=["null", "string"],
            format="date-time",
            description="Override the incremental window's start (UTC).",
        ),
        "window_end": Param(
            None, type=["null", "string"], format="date-time", description="Override the window's end (UTC)."
        ),
        "dry_run": Param(False, type="boolean", description="Validate and report; send nothing."),
        "verify": Param(True, type="boolean", description="Read sessions back after the jobs."),
        "ignore_response_revisions": Param(
            False, type="boolean", description="Overwrite stored responses whatever their revision."
        ),
        "force_resubmit": Param(
            False, type="boolean", description="Send sessions even if the same content was delivered."
        ),
        "batch_size": Param(50, type="integer", minimum=1, maximum=50, description="Sessions per request."),
    },
) as dag:
    plan = LearnosityTemplatePlanOperator(
        task_id="plan",
        activity_ids="{{ params.activity_ids }}",
        window_start="{{ params.window_start }}",
        window_end="{{ params.window_end }}",
        batch_size="{{ params.batch_size }}",
        force_resubmit="{{ params.force_resubmit }}",
        dry_run="{{ params.dry_run }}",
    )
    record = submit_and_wait(plan)
    verify = LearnosityVerifyOperator(task_id="verify", enabled="{{ params.verify and not params.dry_run }}")
    report = LearnosityTemplateReportOperator(task_id="report", outlets=[TEMPLATE_SESSIONS])

    record >> verify >> report
