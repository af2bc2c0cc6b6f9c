"""
### Learnosity template submission

Nightly upload of paper-based assessment responses into Learnosity through the Data API
(`SET /sessions`, `data_format: from_template`).

1. **plan**: read the sessions that changed in the window from `learnosity_warehouse`, fetch each
   activity's template once, transform the rows into response objects, hold back invalid
   sessions (quarantine), skip sessions whose same content was already delivered, and stage
   batches of at most 50 sessions in shards. With a rate budget shared in Redis (the connection's
   `rate_limiter_url`) it already sends each batch as it is staged, while nothing read so far
   calls for a review; the submit tasks send the rest and resume what went.
2. **review** / **submit**: an approval when asked for or above the thresholds (a rejection sends
   nothing), then one mapped task per shard (pool `learnosity_api`), batches sent concurrently;
   each job's outcome is recorded, and its sessions read back, as soon as it ends, while later
   batches are still being sent.
3. **wait_for_jobs**: deferrable wait on every job reference.
4. **record_jobs** / **verify**: per-session outcomes into the ledger, then read-back, for what
   the submit tasks did not finish following.
5. **report**: HTML report + quarantine CSV, with how every row read adds up (staged, skipped as
   already delivered, quarantined, held back). The run fails here, after the report, unless it
   delivered everything: a session failed (its job failed or halted, a task never finished it) or
   was rejected by the Data API, an activity was held back, or more than `max_quarantine_share`
   of the rows were quarantined or held back. Only a green, unfiltered run advances the window.

Schedule: `LEARNOSITY_TEMPLATE_CRON` (default `0 2 * * *`) in `LEARNOSITY_TIMEZONE` (default UTC);
job polling every `LEARNOSITY_JOB_POLL_S` seconds (default 10).
Unpausing starts nothing: the first run is the next scheduled time, never a past night.
"""

from __future__ import annotations

import os
from datetime import timedelta

from airflow.sdk import DAG, CronTriggerTimetable, Param

from learnosity_provider import form
from learnosity_provider.assets import TEMPLATE_SESSIONS
from learnosity_provider.deadlines import overdue_alert, run_timeout, task_timeout
from learnosity_provider.notifications import LearnosityRunNotifier
from learnosity_provider.operators.template_submission import (
    LearnosityTemplatePlanOperator,
    LearnosityTemplateReportOperator,
)
from learnosity_provider.operators.verify import LearnosityVerifyOperator
from learnosity_provider.pipeline import send_while_planning, submit_and_wait
from learnosity_provider.retries import DataApiRetryPolicy

with DAG(
    dag_id="learnosity_template_submission",
    description="Warehouse responses -> Learnosity sessions (from_template), verified and reported",
    doc_md=__doc__,
    schedule=CronTriggerTimetable(
        os.environ.get("LEARNOSITY_TEMPLATE_CRON", "0 2 * * *"),
        timezone=os.environ.get("LEARNOSITY_TIMEZONE", "UTC"),
        # With no start_date, the first run is the next fire time after the DAG is unpaused: never
        # a past night (a start_date or the default 10% grace would start one at once).
        run_immediately=timedelta(0),
    ),
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
        "dry_run": form.dry_run(
            "read, validate and write the report; stage and send nothing, and the window does not move"
        ),
        "verify": form.verify(),
        "max_quarantine_share": form.max_quarantine_share(),
        "require_approval": form.require_approval(),
        "approval_above_sessions": form.approval_above_sessions(),
        "approval_above_quarantine_share": form.approval_above_quarantine_share(),
        "activity_ids": form.activity_ids(
            "every activity with changed sessions (a run limited to some activities does not move the window)"
        ),
        "force_resubmit": Param(
            False,
            type="boolean",
            title="Send again what was delivered",
            description="On: send sessions even when the same content already completed. Default off:"
            " skip them.",
            section="What to send",
        ),
        "ignore_response_revisions": form.ignore_response_revisions(),
        "batch_size": Param(
            50,
            type="integer",
            minimum=1,
            maximum=50,
            title="Sessions per request",
            description="1-50. Default 50, the Data API's limit.",
            section="What to send",
        ),
        "window_start": Param(
            None,
            type=["null", "string"],
            format="date-time",
            title="Window start (UTC)",
            description="Rows changed from this time. Default empty: where the last fully delivered run"
            " ended (the beginning on the first run).",
            section="Window",
        ),
        "window_end": Param(
            None,
            type=["null", "string"],
            format="date-time",
            title="Window end (UTC)",
            description="Rows changed before this time. Default empty: the run's time (now for a manual"
            " run). A run with an end set does not move the window.",
            section="Window",
        ),
        "reconcile": Param(
            False,
            type="boolean",
            title="Reconcile instead of the window",
            description="On: ignore the window, compare every session changed since the reconcile"
            " start with the ledger and send the missing and changed ones (late loads, lost"
            " deliveries); the window does not move. Default off: the nightly window.",
            section="Window",
        ),
        "reconcile_since": form.reconcile_since(),
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
        reconcile="{{ params.reconcile }}",
        reconcile_since="{{ params.reconcile_since }}",
        **send_while_planning(),
    )
    record = submit_and_wait(plan)
    verify = LearnosityVerifyOperator(task_id="verify", enabled="{{ params.verify and not params.dry_run }}")
    report = LearnosityTemplateReportOperator(
        task_id="report",
        max_quarantine_share="{{ params.max_quarantine_share }}",
        outlets=[TEMPLATE_SESSIONS],
    )

    record >> verify >> report
