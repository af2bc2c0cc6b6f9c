"""
### Learnosity failed-submission replay

Re-submits learner sessions whose online submission failed, in bulk, through the Data API
(`SET /sessions`, `data_format: failed_submission`).

1. **plan**: read every blob file in the landing location (one base64 string per file, as copied
   from the failed-submission dialog or downloaded; whitespace tolerated) and, optionally, the
   table named by Variable `learnosity_failed_submissions_table` (`blob_id`, `blob`). Invalid
   blobs move to `quarantine/` with a `.reason.txt`; of two blobs for one session the newer
   (highest revision, then latest save) is kept and the other moves to `duplicates/`; sessions
   whose same content already completed are not sent again.
2. **submit**: batches of at most 50 blobs, one mapped task per shard (pool `learnosity_api`).
3. **wait_for_jobs** (deferrable) and **record_jobs**: per-session outcomes in the ledger.
4. **verify**: every completed session is read back; one Learnosity does not have is marked
   failed, so its file stays for the next run.
5. **report**: completed sessions' files move to `processed/`; failed ones stay for the next run,
   which fails this run after the HTML report is written.

Schedule: hourly (`LEARNOSITY_REPLAY_CRON`, default `15 * * * *`, in `LEARNOSITY_TIMEZONE`).
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronTriggerTimetable, Param

from learnosity_provider.assets import FAILED_SUBMISSION_SESSIONS
from learnosity_provider.deadlines import overdue_alert, run_timeout, task_timeout
from learnosity_provider.notifications import LearnosityRunNotifier
from learnosity_provider.operators.failed_submission import (
    LearnosityReplayPlanOperator,
    LearnosityReplayReportOperator,
)
from learnosity_provider.operators.verify import LearnosityVerifyOperator
from learnosity_provider.pipeline import submit_and_wait
from learnosity_provider.retries import DataApiRetryPolicy

with DAG(
    dag_id="learnosity_failed_submission_replay",
    description="Failed learner submissions (base64 blobs) -> Learnosity sessions, exactly once",
    doc_md=__doc__,
    schedule=CronTriggerTimetable(
        os.environ.get("LEARNOSITY_REPLAY_CRON", "15 * * * *"),
        timezone=os.environ.get("LEARNOSITY_TIMEZONE", "UTC"),
    ),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    render_template_as_native_obj=True,
    tags=["learnosity", "data-api", "failed-submission"],
    default_args={
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "retry_policy": DataApiRetryPolicy(),
        "execution_timeout": task_timeout(),
    },
    dagrun_timeout=run_timeout("REPLAY", 360),
    deadline=overdue_alert("REPLAY", 120),
    on_failure_callback=LearnosityRunNotifier(),
    on_success_callback=LearnosityRunNotifier(succeeded=True),
    params={
        "source": Param(
            "",
            type="string",
            description="Landing location override (local path or fsspec URL); empty: the configured one.",
        ),
        "dry_run": Param(False, type="boolean", description="Validate and report; move and send nothing."),
        "ignore_response_revisions": Param(
            False, type="boolean", description="Overwrite stored responses whatever their revision."
        ),
    },
) as dag:
    plan = LearnosityReplayPlanOperator(
        task_id="plan", source="{{ params.source }}", dry_run="{{ params.dry_run }}"
    )
    record = submit_and_wait(plan)
    verify = LearnosityVerifyOperator(task_id="verify", enabled="{{ not params.dry_run }}")
    report = LearnosityReplayReportOperator(
        task_id="report", source="{{ params.source }}", outlets=[FAILED_SUBMISSION_SESSIONS]
    )

    record >> verify >> report
