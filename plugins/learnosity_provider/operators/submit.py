"""Submit one shard of staged batches (both data formats): the task mapped over shards."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context, ObjectStoragePath

from learnosity_core.dataapi.limits import set_rate_share
from learnosity_core.delivery.staging import Shard
from learnosity_core.delivery.submission import submit_shard
from learnosity_provider import resources
from learnosity_provider.hooks import LearnosityHook
from learnosity_provider.operators.common import failing_fast, typed_param, typed_request


class LearnositySubmitShardOperator(BaseOperator):
    """Send one shard's batches concurrently within this task's share of the SET rate limit
    (the whole limit, shared with every other sender, when the connection sets `rate_limiter_url`).

    Map it over the planner's shards; `map_index_template="{{ task.shard['label'] }}"` gives
    each mapped task a readable label. Returns the shard's job references.
    """

    template_fields: Sequence[str] = ("shard", "ignore_response_revisions", "verify")

    def __init__(
        self,
        *,
        shard: Any,
        ignore_response_revisions: Any = False,
        follow_jobs: bool = False,
        verify: Any = True,
        concurrency: int = 4,
        learnosity_conn_id: str = LearnosityHook.default_conn_name,
        state_conn_id: str = resources.STATE_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.shard = shard
        self.ignore_response_revisions = ignore_response_revisions
        self.follow_jobs = follow_jobs
        self.verify = verify
        self.concurrency = concurrency
        self.learnosity_conn_id = learnosity_conn_id
        self.state_conn_id = state_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        shard = typed_request(Shard, **self.shard)
        ignore = typed_param(bool, self.ignore_response_revisions, "ignore_response_revisions")
        hook = LearnosityHook(self.learnosity_conn_id)
        settings = hook.get_settings()
        # A budget shared across processes (Redis) lets every submitter use the whole limit.
        shared = settings.rate_limiter_url is not None
        share = settings.set_requests_per_window if shared else set_rate_share(resources.parallel_shards())
        self.log.info(
            "%s; %s %d SET requests per window",
            shard.label,
            "shared budget" if shared else "rate share",
            share,
        )
        ledger = resources.ledger(self.state_conn_id)
        stage = ObjectStoragePath(shard.stage)
        with (
            failing_fast(self.learnosity_conn_id),
            hook.get_client(set_requests_per_window=share) as client,
        ):
            result = submit_shard(
                client,
                ledger,
                stage,
                shard,
                concurrency=self.concurrency,
                ignore_response_revisions=True if ignore else None,
                follow_jobs=self.follow_jobs,
                verify=typed_param(bool, self.verify, "verify"),
            )
        return result.model_dump()
