"""Plan a failed-submission replay: collect blobs, quarantine bad ones, keep one per session, stage.

Blob files come from a landing folder (one base64 string per file, as copied from the failed
submission dialog or downloaded) and optionally from a warehouse table. What happens to each
file is in `landing`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Iterable

from pydantic import BaseModel, Field

from learnosity_core.dataapi.limits import MAX_SESSIONS_PER_SET
from learnosity_core.delivery.batching import Batcher
from learnosity_core.delivery.ledger import Ledger, SessionEntry
from learnosity_core.delivery.staging import Shard, StoragePath, write_plan_summary
from learnosity_core.failed_submission.blob import TOO_LARGE, BlobError, FailedSession, decode_failed_session
from learnosity_core.failed_submission.landing import (
    CHANGED_WHILE_READ,
    DEFAULT_SETTLE_S,
    DUPLICATES_FOLDER,
    LEASE_TTL,
    MAX_FILE_BYTES,
    PROCESSED_FOLDER,
    QUARANTINE_FOLDER,
    BlobSource,
    lease_key,
    move,
    read_file,
    survey,
)

log = logging.getLogger(__name__)


class ReplaySummary(BaseModel):
    """What a replay decided; saved as the plan summary beside the batches for the report."""

    run_id: str
    dry_run: bool
    landing: str | None = None
    busy_with: str | None = None  # the run holding the landing location: this one took nothing
    # every landing entry and table row once: found = waiting + skipped + invalid + duplicates
    # + already_delivered + staged
    found: int = 0
    waiting: dict[str, str] = Field(default_factory=dict)  # file name -> why it waits
    skipped: dict[str, str] = Field(default_factory=dict)  # entry name -> why it is never taken
    invalid_by_reason: dict[str, int] = Field(default_factory=dict)
    duplicates: int = 0
    already_delivered: int = 0
    staged: int = 0
    shards: list[Shard] = Field(default_factory=list)
    # session id -> where its blob came from; the file moves to processed/ once the session completed
    sources: dict[str, BlobSource] = Field(default_factory=dict)
    invalid: list[tuple[str, str, str]] = Field(default_factory=list)  # (source name, code, message)


class _Candidate(BaseModel):
    source: BlobSource
    blob: str
    session: FailedSession
    content_hash: str
    order: int


def normalise_blob(raw: str) -> str:
    """The base64 text without the whitespace and line breaks copying adds."""
    return "".join(raw.split())


def content_hash(session: FailedSession) -> str:
    canonical = json.dumps(session.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _newest_revision(session: FailedSession) -> int:
    return max((r.revision for r in session.responses.values()), default=0)


def _rank(candidate: _Candidate) -> tuple[int, str, int]:
    """Highest revision first, then the latest save, then the last one read."""
    session = candidate.session
    return (_newest_revision(session), session.dt_saved or "", candidate.order)


def plan_replay(
    landing: StoragePath,
    table_blobs: Iterable[tuple[str, str]],
    ledger: Ledger,
    stage: StoragePath,
    run_id: str,
    *,
    dry_run: bool = False,
    max_shards: int = 16,
    settle_s: float = DEFAULT_SETTLE_S,
    now: float | None = None,
) -> ReplaySummary:
    """Decide what this replay sends; move invalid and superseded files out of the landing folder.

    A run that is not a dry run first takes the landing location's lease; when another run holds
    it, this one lists, moves and stages nothing (its summary says which run has it)."""
    summary = ReplaySummary(run_id=run_id, dry_run=dry_run, landing=str(landing))
    if not dry_run:
        summary.busy_with = ledger.acquire_lease(lease_key(landing), run_id, LEASE_TTL)
        if summary.busy_with is not None:
            log.warning("Run %s is replaying from %s: this run takes nothing", summary.busy_with, landing)
            write_plan_summary(stage, summary)
            return summary
    listing = survey(landing, settle_s=settle_s, now=time.time() if now is None else now)
    summary.waiting, summary.skipped = dict(listing.waiting), dict(listing.skipped)
    summary.found = len(listing.waiting) + len(listing.skipped)
    reasons: Counter[str] = Counter()
    candidates: list[_Candidate] = []

    def set_aside(source: BlobSource, folder: str, reason: str | None = None) -> bool:
        """Move a file out of the landing folder (not in a dry run); False when it changed since it
        was claimed, so it waits for the next run instead."""
        if source.origin != "file" or dry_run:
            return True
        if move(landing, source.name, folder, reason, fingerprint=source.fingerprint) is not None:
            return True
        summary.waiting[source.name] = CHANGED_WHILE_READ
        return False

    def reject(source: BlobSource, exc: BlobError) -> None:
        if set_aside(source, QUARANTINE_FOLDER, f"{exc.code}: {exc.message}"):
            reasons[exc.code] += 1
            summary.invalid.append((source.name, exc.code, exc.message))

    def consider(source: BlobSource, raw: bytes | str) -> None:
        summary.found += 1
        try:
            session = decode_failed_session(raw)
        except BlobError as exc:
            reject(source, exc)
            return
        text = raw.decode("ascii") if isinstance(raw, bytes) else raw
        candidates.append(
            _Candidate(
                source=source,
                blob=normalise_blob(text),
                session=session,
                content_hash=content_hash(session),
                order=len(candidates),
            )
        )

    for file in listing.files:
        source = BlobSource(origin="file", name=file.name, fingerprint=file.fingerprint)
        if file.size > MAX_FILE_BYTES:  # judged by its size alone: never read
            summary.found += 1
            reject(
                source, BlobError(TOO_LARGE, f"the file has {file.size} bytes, more than {MAX_FILE_BYTES}")
            )
            continue
        raw = read_file(landing, file)
        if raw is None:
            summary.found += 1
            summary.waiting[file.name] = CHANGED_WHILE_READ
            continue
        consider(source, raw)
    for blob_id, blob in table_blobs:
        consider(BlobSource(origin="table", name=str(blob_id)), blob)
    summary.invalid_by_reason = dict(reasons)

    chosen: dict[str, _Candidate] = {}
    for candidate in candidates:
        current = chosen.get(candidate.session.session_id)
        keep, drop = (
            (candidate, current)
            if current is None or _rank(candidate) > _rank(current)
            else (current, candidate)
        )
        chosen[candidate.session.session_id] = keep
        if drop is not None:
            log.info(
                "Duplicate of session %s: keeping %s, setting aside %s",
                keep.session.session_id,
                keep.source.name,
                drop.source.name,
            )
            if set_aside(drop.source, DUPLICATES_FOLDER, f"superseded by {keep.source.name}"):
                summary.duplicates += 1

    delivered = ledger.delivered((sid, c.content_hash) for sid, c in chosen.items())
    ready = [c for sid, c in sorted(chosen.items()) if sid not in delivered]
    for c in chosen.values():
        if c.session.session_id in delivered and set_aside(c.source, PROCESSED_FOLDER):
            summary.already_delivered += 1
    summary.staged = len(ready)
    if not dry_run:
        batcher = Batcher(stage, ledger, run_id, "failed_submission", MAX_SESSIONS_PER_SET)
        for c in ready:
            session = c.session
            batcher.add(
                "replay",
                SessionEntry(session.session_id, c.content_hash, session.activity_id, session.user_id),
                c.blob,
            )
            summary.sources[session.session_id] = c.source
        summary.shards = batcher.finish(max_shards)
    write_plan_summary(stage, summary)
    return summary
