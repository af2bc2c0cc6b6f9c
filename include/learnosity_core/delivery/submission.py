"""Send a shard's staged batches: concurrently, within the process's rate share, exactly once.

Before posting a batch the ledger is asked whether it already has a job reference (a retried
task resumes instead of re-posting). If a worker dies between the POST and the ledger write,
the batch is posted again on retry: that is safe because every session id is deterministic and
the Data API upserts sessions by id, so a re-sent session is stored once.

A batch the Data API refuses as invalid is halved, and each half sent on its own, until the
sessions it refuses are alone: those are `rejected` with the API's message, the rest go
through, so one bad session never holds back the 49 beside it (nor, night after night, the
window). When every session of a batch is refused on its own, the fault is the request's (a
template, a setting), not a session's: the refusal is raised and nothing is marked rejected.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from typing import Any, Protocol

from pydantic import BaseModel

from learnosity_core.dataapi.errors import DataApiValidationError
from learnosity_core.delivery.follow import FollowClient, JobFollower
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


class ShardClient(SessionSubmitter, FollowClient, Protocol):
    """What a shard's submitter needs: posting, and reading jobs and sessions to follow them."""


class ShardResult(BaseModel):
    shard: int
    job_references: list[str]
    batches_posted: int
    batches_resumed: int
    sessions: int
    sessions_rejected: int = 0


class _Sent(BaseModel):
    """What sending one staged batch (or its parts) came to."""

    job_references: list[str]
    resumed: bool = False
    rejected: int = 0


def _post(
    client: SessionSubmitter, stage: StoragePath, batch: StagedBatch, ignore_revisions: bool | None
) -> str:
    if batch.data_format == "from_template":
        if batch.activity_id is None:
            raise ValueError(f"batch {batch.batch_id} has no activity_id for its template")
        template = read_template(stage, batch.activity_id)
        return client.submit_template_sessions(template, batch.entries, ignore_revisions)
    return client.submit_failed_sessions(batch.entries, ignore_revisions)


def _halves(batch: StagedBatch) -> list[StagedBatch]:
    middle = len(batch.session_ids) // 2
    return [
        batch.model_copy(
            update={
                "batch_id": f"{batch.batch_id}.{number}",
                "session_ids": batch.session_ids[part],
                "entries": batch.entries[part],
            }
        )
        for number, part in ((1, slice(0, middle)), (2, slice(middle, None)))
    ]


def _send(
    client: SessionSubmitter,
    ledger: Ledger,
    stage: StoragePath,
    batch: StagedBatch,
    ignore_revisions: bool | None,
    refusals: list[tuple[str, DataApiValidationError]],
) -> list[str]:
    """Post a batch that has no job yet, or its halves when refused (each resumed when a retried
    task already posted it); collect (batch id, refusal) of lone sessions."""
    try:
        reference = _post(client, stage, batch, ignore_revisions)
    except DataApiValidationError as exc:
        if len(batch.session_ids) == 1:
            refusals.append((batch.batch_id, exc))
            return []
        references = []
        for half in _halves(batch):
            ledger.split_batch(batch.batch_id, half.batch_id, half.session_ids)
            existing = ledger.job_for_batch(half.batch_id)
            references += (
                [existing] if existing else _send(client, ledger, stage, half, ignore_revisions, refusals)
            )
        return references
    ledger.record_submission(batch.batch_id, reference)
    return [reference]


def send_batch(
    client: SessionSubmitter,
    ledger: Ledger,
    stage: StoragePath,
    batch: StagedBatch,
    ignore_revisions: bool | None = None,
) -> _Sent:
    """Send one staged batch exactly once, isolating the sessions the Data API refuses."""
    existing = ledger.job_for_batch(batch.batch_id)
    if existing is not None:
        return _Sent(job_references=[existing], resumed=True)
    refusals: list[tuple[str, DataApiValidationError]] = []
    references = _send(client, ledger, stage, batch, ignore_revisions, refusals)
    if refusals and not references and len(batch.session_ids) > 1:
        raise refusals[0][1]
    for part_id, refusal in refusals:
        ledger.record_rejection(part_id, f"rejected by the Data API: {refusal.server_message or refusal}")
    if refusals:
        log.warning(
            "%s: the Data API rejected %d of its %d sessions",
            batch.batch_id,
            len(refusals),
            len(batch.session_ids),
        )
    return _Sent(job_references=references, rejected=len(refusals))


def submit_shard(
    client: ShardClient,
    ledger: Ledger,
    stage: StoragePath,
    shard: Shard,
    *,
    concurrency: int = 4,
    ignore_response_revisions: bool | None = None,
    follow_jobs: bool = False,
    verify: bool = True,
) -> ShardResult:
    """Post every batch of a shard that has no job yet; return all the shard's job references.
    With `follow_jobs`, each batch posted whole has its job recorded (and with `verify` its
    sessions read back) as soon as the job ends, while the rest are still sent (`follow`)."""
    follower = JobFollower(client, ledger, stage, verify=verify) if follow_jobs else None
    with follower or nullcontext():
        return _submit_shard(client, ledger, stage, shard, concurrency, ignore_response_revisions, follower)


def _submit_shard(
    client: SessionSubmitter,
    ledger: Ledger,
    stage: StoragePath,
    shard: Shard,
    concurrency: int,
    ignore_response_revisions: bool | None,
    follower: JobFollower | None,
) -> ShardResult:
    batch_names = read_shard(stage, shard.shard)
    progress = Progress(len(batch_names), shard.label, log, unit="batches")
    references: list[str] = []
    resumed = posted = sessions = rejected = 0

    def send(name: str) -> tuple[_Sent, int]:
        batch = read_batch(stage, name)
        sent = send_batch(client, ledger, stage, batch, ignore_response_revisions)
        whole = not sent.resumed and sent.rejected == 0 and len(sent.job_references) == 1
        if follower is not None and whole:
            follower.posted(batch.batch_id, sent.job_references[0])
        progress.advance()
        return sent, len(batch.session_ids)

    with ThreadPoolExecutor(
        max_workers=max(1, concurrency), thread_name_prefix=f"shard{shard.shard}"
    ) as pool:
        for sent, count in pool.map(send, batch_names):
            references += sent.job_references
            resumed += int(sent.resumed)
            posted += int(not sent.resumed)
            sessions += count
            rejected += sent.rejected
    log.info("%s", progress.line())
    result = ShardResult(
        shard=shard.shard,
        job_references=references,
        batches_posted=posted,
        batches_resumed=resumed,
        sessions=sessions,
        sessions_rejected=rejected,
    )
    log.info("%s: posted %d batches, resumed %d already posted", shard.label, result.batches_posted, resumed)
    return result
