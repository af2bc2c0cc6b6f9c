"""
### Learnosity failed-submission replay

Re-submits learner sessions whose online submission failed, in bulk, through the Data API
(`SET /sessions`, `data_format: failed_submission`).

1. **plan**: take the landing location's lease (one replay at a time) and read every settled
   regular blob file in it; files still changing or named `*.part`/`*.tmp` wait for a later run,
   links, folders and special files are skipped and reported (one base64 string per file, as copied
   from the failed-submission dialog or downloaded; whitespace tolerated) and, optionally, the
   table named by Variable `learnosity_failed_submissions_table` (`blob_id`, `blob`). A blob
   that is not base64 of a JSON object (or is empty, or over 5 MiB) moves to `quarantine/` with a
   `.reason.txt`; one whose inside looks unfamiliar is sent with a warning in the report (param
   `strict` quarantines it instead). Of two blobs for one session the newer (highest revision,
   then latest save) is kept and the other moves to `duplicates/`; a blob naming no session is
   known by its content. What already completed is not sent again.
2. **review** / **submit**: an approval when asked for or above the thresholds (a rejection sends
   nothing), then batches of at most 50 blobs, one mapped task per shard (pool `learnosity_api`);
   each job's outcome is recorded, and its sessions read back, as soon as it ends.
3. **wait_for_jobs** (deferrable) and **record_jobs**: per-session outcomes in the ledger, for
   the jobs the submit tasks did not finish following.
4. **verify**: every completed session not yet read back is; one Learnosity does not have is
   marked failed, so its file stays for the next run.
5. **report**: completed sessions' files move to `processed/`, ones a job rejected to
   `quarantine/` with the job's reason; failed ones stay for the next run, which fails this run
   after the HTML report is written.

Schedule: hourly (`LEARNOSITY_REPLAY_CRON`, default `15 * * * *`, in `LEARNOSITY_TIMEZONE`).
Unpausing starts nothing: the first run is the next scheduled time.
"""

from __future__ import annotations

import os
from datetime import timedelta

from airflow.sdk import DAG, CronTriggerTimetable, Param

from learnosity_provider import form
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
        # With no start_date, the first run is the next fire time after the DAG is unpaused: never
        # a past night (a start_date or the default 10% grace would start one at once).
        run_immediately=timedelta(0),
    ),
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
        "dry_run": form.dry_run("read and check every blob and write the report; move and send nothing"),
        "strict": Param(
            False,
            type="boolean",
            title="Quarantine blobs that only warn",
            description="On: also quarantine blobs that only warn (no identity found, unfamiliar"
            " responses). Default off: Variable learnosity_failed_submissions_strict decides (off: they"
            " are sent, with a warning in the report).",
            section="Safety",
        ),
        "source": Param(
            None,
            type=["null", "string"],
            title="Folder to replay",
            description="A folder inside the landing location (or an allowed one). Default empty: all of"
            " the landing location.",
            section="What to send",
        ),
        "ignore_response_revisions": form.ignore_response_revisions(),
        "require_approval": form.require_approval(),
        "approval_above_sessions": form.approval_above_sessions(),
        "approval_above_quarantine_share": form.approval_above_quarantine_share(),
    },
) as dag:
    plan = LearnosityReplayPlanOperator(
        task_id="plan",
        source="{{ params.source }}",
        dry_run="{{ params.dry_run }}",
        strict="{{ params.strict }}",
    )
    record = submit_and_wait(plan)
    verify = LearnosityVerifyOperator(task_id="verify", enabled="{{ not params.dry_run }}")
    report = LearnosityReplayReportOperator(
        task_id="report", source="{{ params.source }}", outlets=[FAILED_SUBMISSION_SESSIONS]
    )

    record >> verify >> report
