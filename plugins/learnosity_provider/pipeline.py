"""The back half both DAGs share: review, mapped submit over shards, deferrable wait, record outcomes."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseOperator

from learnosity_provider.deadlines import job_wait_limit
from learnosity_provider.operators.failed_submission import LearnosityReplayPlanOperator
from learnosity_provider.operators.jobs import LearnosityRecordJobsOperator
from learnosity_provider.operators.review import LearnosityReviewOperator, approval_timeout
from learnosity_provider.operators.submit import LearnositySubmitShardOperator
from learnosity_provider.resources import API_POOL
from learnosity_provider.sensors import LearnosityJobsSensor

WAIT_MARGIN = timedelta(minutes=15)
# Time left after a late approval to send, wait for the jobs and report before the run times out.
SEND_MARGIN = timedelta(hours=1)
_VERIFY = "{{ params.get('verify', true) and not params.dry_run }}"


def _answer_within(plan: BaseOperator) -> timedelta:
    """`LEARNOSITY_APPROVAL_TIMEOUT_H`, but never so long that the run's own `dagrun_timeout` ends
    it first (then the report could not say that nobody answered): at most the run's timeout less
    `SEND_MARGIN`, or half of it when the timeout is shorter than two margins."""
    run_timeout = plan.dag.dagrun_timeout if plan.has_dag() else None
    if run_timeout is None:
        return approval_timeout()
    return min(approval_timeout(), max(run_timeout - SEND_MARGIN, run_timeout / 2))


def send_while_planning() -> dict[str, Any]:
    """A template plan's arguments to send batches as it stages them, while the run needs no
    review by the same params the review reads (needs the connection's `rate_limiter_url`)."""
    return {
        "send_while_planning": True,
        "require_approval": "{{ params.require_approval }}",
        "above_sessions": "{{ params.approval_above_sessions }}",
        "above_quarantine_share": "{{ params.approval_above_quarantine_share }}",
        "ignore_response_revisions": "{{ params.ignore_response_revisions }}",
        "verify": _VERIFY,
    }


def submit_and_wait(plan: BaseOperator) -> LearnosityRecordJobsOperator:
    """Wire `plan >> review >> submit[shards] >> wait_for_jobs >> record_jobs`, return `record_jobs`.

    The plan task must return the list of shards. `review` waits for a person's approval when the
    param `require_approval` asks for it or the plan passes the approval thresholds; a rejection
    (or no answer in time) skips submit. Submit tasks share the `learnosity_api` pool and show
    `shard N: batches A-B of T (activities), S sessions` as their label; the wait runs in the
    triggerer, polls every `LEARNOSITY_JOB_POLL_S` seconds (default 10) and gives up after
    `LEARNOSITY_JOB_WAIT_MIN` minutes (default 240), naming the jobs still open. Waiting and
    recording still run when there was nothing to submit (dry runs, nothing changed, a rejected
    plan).
    """
    review = LearnosityReviewOperator(
        task_id="review",
        response_timeout=_answer_within(plan),
        plan="replay" if isinstance(plan, LearnosityReplayPlanOperator) else "template",
        require_approval="{{ params.require_approval }}",
        above_sessions="{{ params.approval_above_sessions }}",
        above_quarantine_share="{{ params.approval_above_quarantine_share }}",
    )
    submit = LearnositySubmitShardOperator.partial(
        task_id="submit",
        pool=API_POOL,
        ignore_response_revisions="{{ params.ignore_response_revisions }}",
        # Outcomes and read-back as each job ends, while later batches are still sent.
        follow_jobs=True,
        verify=_VERIFY,
        map_index_template="{{ task.shard['label'] }}",
    ).expand(shard=plan.output)
    wait_limit = job_wait_limit()
    wait = LearnosityJobsSensor(
        task_id="wait_for_jobs",
        job_references=submit.output,
        deferrable=True,
        poke_interval=float(os.environ.get("LEARNOSITY_JOB_POLL_S", "10")),
        wait_timeout=wait_limit.total_seconds(),
        # The wait ends itself at its limit and reports the open jobs; these only catch a hang.
        timeout=(wait_limit + WAIT_MARGIN).total_seconds(),
        execution_timeout=wait_limit + WAIT_MARGIN,
        trigger_rule="none_failed",
    )
    record = LearnosityRecordJobsOperator(task_id="record_jobs", trigger_rule="none_failed")
    plan >> review >> submit >> wait >> record
    return record
