"""Record what the run's Data API jobs did to each session (both data formats)."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator, Context

from learnosity_core.delivery.job_outcomes import record_jobs
from learnosity_provider import resources
from learnosity_provider.hooks import LearnosityHook
from learnosity_provider.operators.common import dag_and_run, failing_fast


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
        dag_id, run_id = dag_and_run(context)
        stage = resources.stage_path(dag_id, run_id)  # where a job error given by index finds its session
        with (
            failing_fast(self.learnosity_conn_id),
            LearnosityHook(self.learnosity_conn_id).get_client() as client,
        ):
            result = record_jobs(client, resources.ledger(self.state_conn_id), dag_id, run_id, stage)
        return result.model_dump()
