"""Plan a failed-submission replay: collect blobs, quarantine bad ones, keep one per session, stage.

Blob files come from a landing folder (one base64 string per file, as copied from the failed
submission dialog or downloaded) and optionally from a warehouse table. What happens to each
file is in `landing`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Iterable

from pydantic import BaseModel, Field

from learnosity_core.dataapi.limits import MAX_SESSIONS_PER_SET
from learnosity_core.delivery.batching import Batcher
from learnosity_core.delivery.ledger import Ledger, SessionEntry
from learnosity_core.delivery.staging import Shard, StoragePath, write_plan_summary
from learnosity_core.failed_submission.blob import BlobError, FailedSession, decode_failed_session
from learnosity_core.failed_submission.landing import (
    DUPLICATES_FOLDER,
    PROCESSED_FOLDER,
    QUARANTINE_FOLDER,
    BlobSource,
    landing_files,
    move,
)

log = logging.getLogger(__name__)


class ReplaySummary(BaseModel):
    """What a replay decided; saved as the plan summary beside the batches for the report."""

    run_id: str
    dry_run: bool
    landing: str | None = None
    found: int = 0
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
) -> ReplaySummary:
    """Decide what this replay sends; move invalid and superseded files out of the landing folder."""
    summary = ReplaySummary(run_id=run_id, dry_run=dry_run, landing=str(landing))
    reasons: Counter[str] = Counter()
    candidates: list[_Candidate] = []
    files = {p.name: p for p in landing_files(landing)}

    def consider(source: BlobSource, raw: bytes | str) -> None:
        summary.found += 1
        try:
            session = decode_failed_session(raw)
        except BlobError as exc:
            reasons[exc.code] += 1
            summary.invalid.append((source.name, exc.code, exc.message))
            if source.origin == "file" and not dry_run:
                move(files[source.name], landing, QUARANTINE_FOLDER, f"{exc.code}: {exc.message}")
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

    for name, path in files.items():
        consider(BlobSource(origin="file", name=name), path.read_bytes())
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
            summary.duplicates += 1
            log.info(
                "Duplicate of session %s: keeping %s, setting aside %s",
                keep.session.session_id,
                keep.source.name,
                drop.source.name,
            )
            if drop.source.origin == "file" and not dry_run:
                move(files[drop.source.name], landing, DUPLICATES_FOLDER, f"superseded by {keep.source.name}")

    delivered = ledger.delivered((sid, c.content_hash) for sid, c in chosen.items())
    summary.already_delivered = len(delivered)
    ready = [c for sid, c in sorted(chosen.items()) if sid not in delivered]
    for c in chosen.values():
        if c.session.session_id in delivered and c.source.origin == "file" and not dry_run:
            move(files[c.source.name], landing, PROCESSED_FOLDER)
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
