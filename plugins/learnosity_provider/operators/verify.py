"""Read back a run's completed sessions and compare them with what was sent (both data formats)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context

from learnosity_core.delivery.verify import verify_run
from learnosity_provider import resources
from learnosity_provider.hooks import LearnosityHook
from learnosity_provider.operators.common import dag_and_run, failing_fast, typed_param


class LearnosityVerifyOperator(BaseOperator):
    """Read back this run's completed sessions and compare them with what was sent."""

    template_fields: Sequence[str] = ("enabled",)

    def __init__(
        self,
        *,
        enabled: Any = True,
        learnosity_conn_id: str = LearnosityHook.default_conn_name,
        state_conn_id: str = resources.STATE_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.enabled = enabled
        self.learnosity_conn_id = learnosity_conn_id
        self.state_conn_id = state_conn_id

    def execute(self, context: Context) -> dict[str, int]:
        if not typed_param(bool, self.enabled, "verify"):
            self.log.info("Verification switched off for this run")
            return {"verified": 0, "mismatched": 0}
        dag_id, run_id = dag_and_run(context)
        with (
            failing_fast(self.learnosity_conn_id),
            LearnosityHook(self.learnosity_conn_id).get_client() as client,
        ):
            ledger = resources.ledger(self.state_conn_id)
            result = verify_run(client, ledger, resources.stage_path(dag_id, run_id), dag_id, run_id)
        return result.model_dump()
