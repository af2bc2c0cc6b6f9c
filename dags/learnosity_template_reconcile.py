"""
### Learnosity template reconcile

The nightly run (`learnosity_template_submission`) selects rows by time after the last delivered
window, so rows loaded late with an old `updated_at` (and no `loaded_at` column) are never in a
window. This weekly run ignores the window: it reads every session changed since
`reconcile_since` (default 30 days back), compares its content hash with the delivery ledger, and
sends exactly the sessions that were never delivered or whose content changed. Its report says
how many were missing, changed, or already in place; a second reconcile sends nothing.

1. **plan** (reconcile) -> 2. **submit** -> 3. **wait_for_jobs** -> 4. **record_jobs** /
**verify** -> 5. **report**, as in the nightly DAG. It never moves the nightly window.

Created paused: unpause it where late loads happen. Schedule: `LEARNOSITY_RECONCILE_CRON`
(default `0 4 * * 0`, Sundays 04:00) in `LEARNOSITY_TIMEZONE`.
"""

from __future__ import annotations

import os
from datetime import timedelta

from airflow.sdk import DAG, CronTriggerTimetable, Param

from learnosity_provider.operators.template_submission import (
    LearnosityTemplatePlanOperator,
    LearnosityTemplateReportOperator,
)
from learnosity_provider.operators.verify import LearnosityVerifyOperator
from learnosity_provider.pipeline import submit_and_wait

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
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30)},
    params={
        "dry_run": Param(
            False,
            type="boolean",
            title="Dry run (send nothing)",
            description="On: compare and write the report; stage and send nothing. Default off: a real"
            " run that sends what is missing or changed.",
        ),
        "reconcile_since": Param(
            None,
            type=["null", "string"],
            format="date-time",
            title="Reconcile start (UTC)",
            description="Compare the sessions changed since this time. Default empty: 30 days before"
            " the run.",
            section="Window",
        ),
        "activity_ids": Param(
            [],
            type=["null", "array"],
            items={"type": "string"},
            title="Activities",
            description="Activity ids, one per line. Default empty: every activity.",
            section="What to send",
        ),
        "ignore_response_revisions": Param(
            False,
            type="boolean",
            title="Overwrite newer responses",
            description="On: overwrite stored responses whatever their revision. Default off: Learnosity"
            " keeps a response with a newer revision.",
            section="What to send",
        ),
        "verify": Param(
            True,
            type="boolean",
            title="Read sessions back",
            description="Default on: every completed session is read back from Learnosity before the report.",
            section="Safety",
        ),
        "max_quarantine_share": Param(
            None,
            type=["null", "number"],
            minimum=0,
            maximum=1,
            title="Most rows that may be held back (share, 0-1)",
            description="Fail the run when more than this share of rows is quarantined or held back."
            " Default empty: Variable learnosity_max_quarantine_share, else 0.2.",
            section="Safety",
        ),
    },
) as dag:
    plan = LearnosityTemplatePlanOperator(
        task_id="plan",
        activity_ids="{{ params.activity_ids }}",
        dry_run="{{ params.dry_run }}",
        reconcile=True,
        reconcile_since="{{ params.reconcile_since }}",
    )
    record = submit_and_wait(plan)
    verify = LearnosityVerifyOperator(task_id="verify", enabled="{{ params.verify and not params.dry_run }}")
    report = LearnosityTemplateReportOperator(
        task_id="report", max_quarantine_share="{{ params.max_quarantine_share }}"
    )

    record >> verify >> report
