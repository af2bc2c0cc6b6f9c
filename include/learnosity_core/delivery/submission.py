"""Send a shard's staged batches: concurrently, within the process's rate share, exactly once.

Before posting a batch the ledger is asked whether it already has a job reference (a retried
task resumes instead of re-posting). If a worker dies between the POST and the ledger write,
the batch is posted again on retry: that is safe because every session id is deterministic and
the Data API upserts sessions by id, so a re-sent session is stored once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from pydantic import BaseModel

from learnosity_core.delivery.ledger import Ledger
from learnosity_core.delivery.progress import Progress
from learnosity_core.delivery.staging import (
    Shard,
    StagedBatch,
    StoragePath,
    read_batch,
    read_shard,
    read_template,
)

log = logging.getLogger(__name__)


class SessionSubmitter(Protocol):
    """The two Data API operations a shard needs (the real client satisfies it)."""

    def submit_template_sessions(
        self,
        template: Mapping[str, Any],
        sessions: Sequence[Mapping[str, Any] | str],
        ignore_response_revisions: bool | None = None,
    ) -> str: ...

    def submit_failed_sessions(
        self, blobs: Sequence[str], ignore_response_revisions: bool | None = None
    ) -> str: ...


class ShardResult(BaseModel):
    shard: int
    job_references: list[str]
    batches_posted: int
    batches_resumed: int
    sessions: int


def _post(
    client: SessionSubmitter, stage: StoragePath, batch: StagedBatch, ignore_revisions: bool | None
) -> str:
    if batch.data_format == "from_template":
        if batch.activity_id is None:
            raise ValueError(f"batch {batch.batch_id} has no activity_id for its template")
        template = read_template(stage, batch.activity_id)
        return client.submit_template_sessions(template, batch.entries, ignore_revisions)
    return client.submit_failed_sessions(batch.entries, ignore_revisions)


def submit_shard(
    client: SessionSubmitter,
    ledger: Ledger,
    stage: StoragePath,
    shard: Shard,
    *,
    concurrency: int = 4,
    ignore_response_revisions: bool | None = None,
) -> ShardResult:
    """Post every batch of a shard that has no job yet; return all the shard's job references."""
    batch_names = read_shard(stage, shard.shard)
    progress = Progress(len(batch_names), shard.label, log, unit="batches")
    references: dict[str, str] = {}
    resumed = 0
    sessions = 0

    def send(name: str) -> tuple[str, str, bool, int]:
        batch = read_batch(stage, name)
        existing = ledger.job_for_batch(batch.batch_id)
        if existing is not None:
            progress.advance()
            return batch.batch_id, existing, True, len(batch.session_ids)
        reference = _post(client, stage, batch, ignore_response_revisions)
        ledger.record_submission(batch.batch_id, reference)
        progress.advance()
        return batch.batch_id, reference, False, len(batch.session_ids)

    with ThreadPoolExecutor(
        max_workers=max(1, concurrency), thread_name_prefix=f"shard{shard.shard}"
    ) as pool:
        for batch_id, reference, was_resumed, count in pool.map(send, batch_names):
            references[batch_id] = reference
            resumed += int(was_resumed)
            sessions += count
    log.info("%s", progress.line())
    result = ShardResult(
        shard=shard.shard,
        job_references=list(references.values()),
        batches_posted=len(references) - resumed,
        batches_resumed=resumed,
        sessions=sessions,
    )
    log.info("%s: posted %d batches, resumed %d already posted", shard.label, result.batches_posted, resumed)
    return result
