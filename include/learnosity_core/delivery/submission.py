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
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from contextlib import nullcontext
from typing import Any, Protocol

from pydantic import BaseModel

from learnosity_core.dataapi.errors import DataApiValidationError
from learnosity_core.delivery.follow import FollowClient, JobFollower
from learnosity_core.delivery.ledger import Ledger, PostedBatch
from learnosity_core.delivery.progress import Progress
from learnosity_core.delivery.staging import (
    Shard,
    StagedBatch,
    StoragePath,
    batch_file,
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


class BatchSender:
    """Sends staged batches on `concurrency` threads as they are handed over (`send`), each
    exactly once (`send_batch`), handing each job posted whole to the follower, if any.

    `wait()` waits for every batch handed over and raises the first failure; `finish()` waits
    while its caller still wants them sent and leaves a batch that failed to be sent later;
    `stop()` drops those not started yet (another task will send them) and keeps what went.
    """

    def __init__(
        self,
        client: SessionSubmitter,
        ledger: Ledger,
        stage: StoragePath,
        *,
        name: str,
        concurrency: int = 4,
        ignore_response_revisions: bool | None = None,
        follower: JobFollower | None = None,
        progress: Progress | None = None,
    ) -> None:
        self._client = client
        self._ledger = ledger
        self._stage = stage
        self._ignore = ignore_response_revisions
        self._follower = follower
        self._progress = progress
        self._pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix=name)
        self._futures: deque[Future[tuple[_Sent, int]]] = deque()
        self.job_references: list[str] = []
        self.posted = self.resumed = self.sessions = self.rejected = 0

    def send(self, names: Iterable[str]) -> None:
        """Queue these batches (by file name) to be sent in order."""
        self._futures.extend(self._pool.submit(self._send_one, name) for name in names)
        while self._futures and self._futures[0].done():  # keep memory to what is in flight
            self._count(self._futures.popleft().result())

    def wait(self) -> None:
        try:
            while self._futures:
                self._count(self._futures.popleft().result())
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def finish(self, progress: Progress | None = None, wanted: Callable[[], bool] = lambda: True) -> None:
        """Send every batch handed over (counted by `progress` from here on) while `wanted()`
        holds, asked every second; then stop, dropping what was not started by then."""
        if progress is not None:
            self._progress = progress
        while wanted() and (pending := [future for future in self._futures if not future.done()]):
            wait_for(pending, timeout=1.0)
        self.stop()

    @property
    def queued(self) -> int:
        """Batches handed over and not sent yet."""
        return sum(not future.done() for future in self._futures)

    def stop(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        while self._futures:
            future = self._futures.popleft()
            if future.cancelled():
                continue
            if (error := future.exception()) is not None:
                log.warning(
                    "A batch was not sent (%s: %s); it is left to be sent later", type(error).__name__, error
                )
                continue
            self._count(future.result())

    def resume(self, batches: Iterable[PostedBatch]) -> None:
        """Count batches already posted (by the plan, a killed try) without reading them, and
        follow those whose job no answer settled yet."""
        for batch in batches:
            if self._follower is not None and batch.awaits_outcome:
                self._follower.posted(batch.batch_id, batch.job_reference)
            self._count((_Sent(job_references=[batch.job_reference], resumed=True), batch.sessions))
            if self._progress is not None:
                self._progress.advance()

    def _send_one(self, name: str) -> tuple[_Sent, int]:
        batch = read_batch(self._stage, name)
        sent = send_batch(self._client, self._ledger, self._stage, batch, self._ignore)
        if self._follower is not None and self._follows(batch.batch_id, sent):
            self._follower.posted(batch.batch_id, sent.job_references[0])
        if self._progress is not None:
            self._progress.advance()
        return sent, len(batch.session_ids)

    def _follows(self, batch_id: str, sent: _Sent) -> bool:
        """Follow a batch posted whole in one request: by this sender, or by one before it (the
        plan, a killed try) whose job no answer settled yet."""
        if sent.rejected or len(sent.job_references) != 1:
            return False
        return not sent.resumed or self._ledger.awaits_outcome(batch_id)

    def _count(self, outcome: tuple[_Sent, int]) -> None:
        sent, sessions = outcome
        self.job_references += sent.job_references
        self.resumed += int(sent.resumed)
        self.posted += int(not sent.resumed)
        self.sessions += sessions
        self.rejected += sent.rejected


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
    batch_names = read_shard(stage, shard.shard)
    posted = _posted_by_file(ledger, shard)
    progress = Progress(len(batch_names), shard.label, log, unit="batches")
    follower = JobFollower(client, ledger, stage, verify=verify) if follow_jobs else None
    with follower or nullcontext():
        sender = BatchSender(
            client,
            ledger,
            stage,
            name=f"shard{shard.shard}",
            concurrency=concurrency,
            ignore_response_revisions=ignore_response_revisions,
            follower=follower,
            progress=progress,
        )
        sender.resume(posted[name] for name in batch_names if name in posted)
        sender.send([name for name in batch_names if name not in posted])
        sender.wait()
    log.info("%s", progress.line())
    result = ShardResult(
        shard=shard.shard,
        job_references=sender.job_references,
        batches_posted=sender.posted,
        batches_resumed=sender.resumed,
        sessions=sender.sessions,
        sessions_rejected=sender.rejected,
    )
    log.info("%s: posted %d batches, resumed %d already posted", shard.label, sender.posted, sender.resumed)
    return result


def _posted_by_file(ledger: Ledger, shard: Shard) -> dict[str, PostedBatch]:
    """The run's batches posted whole, by the file name shards list (none for an older shard,
    whose batches are then each resumed as they are read)."""
    if shard.dag_id is None or shard.run_id is None:
        return {}
    return {batch_file(b.batch_id): b for b in ledger.posted_batches(shard.dag_id, shard.run_id).values()}
