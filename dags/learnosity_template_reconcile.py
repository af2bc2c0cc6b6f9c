"""
### Learnosity template reconcile

The nightly run (`learnosity_template_submission`) selects rows by time after the last delivered
window, so rows loaded late with an old `updated_at` (and no `loaded_at` column) are never in a
window. This weekly run ignores the window: it reads every session changed since
`reconcile_since` (default 30 days back), compares its content hash with the delivery ledger, and
sends exactly the sessions that were never delivered or whose content changed. Its report says
how many were missing, changed, or already in place; a second reconcile sends nothing.

1. **plan** (reconcile; sending while it stages, as the nightly does) -> 2. **review** / **submit** ->
3. **wait_for_jobs** -> 4. **record_jobs** / **verify** -> 5. **report**, as in the nightly DAG. It
never moves the nightly window.

Created paused: unpause it where late loads happen. Schedule: `LEARNOSITY_RECONCILE_CRON`
(default `0 4 * * 0`, Sundays 04:00) in `LEARNOSITY_TIMEZONE`. Alerts, timeouts and the retry
policy as in the nightly DAG (`LEARNOSITY_RECONCILE_RUN_TIMEOUT_MIN`, `_DEADLINE_MIN`).
"""

from __future__ import annotations

import os
from datetime import timedelta

from airflow.sdk import DAG, CronTriggerTimetable

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
    dag_id="learnosity_template_reconcile",
    description="Every session since a date vs the delivery ledger: send the missing and changed ones",
    doc_md=__doc__,
    schedule=CronTriggerTimetable(
        os.environ.get("LEARNOSITY_RECONCILE_CRON", "0 4 * * 0"),
        timezone=os.environ.get("LEARNOSITY_TIMEZONE", "UTC"),
        # With no start_date, the first run is the next fire time after the DAG is unpaused.
        run_immediately=timedelta(0),
    ),
    catchup=False,
    is_paused_upon_creation=True,
    max_active_runs=1,
    render_template_as_native_obj=True,
    tags=["learnosity", "data-api", "sessions", "reconcile"],
    default_args={
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "retry_policy": DataApiRetryPolicy(),
        "execution_timeout": task_timeout(),
    },
    dagrun_timeout=run_timeout("RECONCILE", 1200),
    deadline=overdue_alert("RECONCILE", 480),
    on_failure_callback=LearnosityRunNotifier(),
    on_success_callback=LearnosityRunNotifier(succeeded=True),
    params={
        "dry_run": form.dry_run("compare and write the report; stage and send nothing"),
        "reconcile_since": form.reconcile_since(),
        "activity_ids": form.activity_ids("every activity"),
        "ignore_response_revisions": form.ignore_response_revisions(),
        "verify": form.verify(),
        "max_quarantine_share": form.max_quarantine_share(),
        "require_approval": form.require_approval(),
        "approval_above_sessions": form.approval_above_sessions(),
        "approval_above_quarantine_share": form.approval_above_quarantine_share(),
    },
) as dag:
    plan = LearnosityTemplatePlanOperator(
        task_id="plan",
        activity_ids="{{ params.activity_ids }}",
        dry_run="{{ params.dry_run }}",
        reconcile=True,
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
