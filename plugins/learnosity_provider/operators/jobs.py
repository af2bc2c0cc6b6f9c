"""Record what the run's Data API jobs did to each session (both data formats)."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator, Context

from learnosity_core.job_outcomes import session_outcomes
from learnosity_provider import resources
from learnosity_provider.hooks import LearnosityHook
from learnosity_provider.operators.common import dag_and_run


class LearnosityRecordJobsOperator(BaseOperator):
    """Read every job of this run and write per-session outcomes (and job errors) to the ledger."""

    def __init__(
        self,
        *,
        learnosity_conn_id: str = LearnosityHook.default_conn_name,
        state_conn_id: str = resources.STATE_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.learnosity_conn_id = learnosity_conn_id
        self.state_conn_id = state_conn_id

    def execute(self, context: Context) -> dict[str, int]:
        _, run_id = dag_and_run(context)
        ledger = resources.ledger(self.state_conn_id)
        jobs_sessions = ledger.jobs_of_run(run_id)
        jobs = {}
        if jobs_sessions:
            with LearnosityHook(self.learnosity_conn_id).get_client() as client:
                jobs = {j.reference: j for j in client.get_jobs(list(jobs_sessions))}
        counts = {"jobs": len(jobs_sessions), "completed": 0, "failed": 0}
        for reference, session_ids in jobs_sessions.items():
            outcomes = session_outcomes(jobs.get(reference), session_ids, reference)
            ledger.record_job(
                reference, str(jobs[reference].status) if reference in jobs else "unknown", outcomes
            )
            for outcome in outcomes:
                counts[outcome.status.value] = counts.get(outcome.status.value, 0) + 1
        self.log.info(
            "Recorded %d jobs: %d sessions completed, %d failed",
            counts["jobs"],
            counts["completed"],
            counts["failed"],
        )
        return counts
