"""Plan a failed-submission replay: collect blobs, quarantine bad ones, keep one per session, stage.

Blob files come from a landing folder (one base64 string per file, as copied from the failed
submission dialog or downloaded) and optionally from a warehouse table. What happens to each
file is in `landing`. A blob naming its session is deduplicated and recorded in the ledger by
that session (the newer revision wins); one naming none, by its content, so the same blob
dropped twice is still sent once.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable

from pydantic import BaseModel, Field

from learnosity_core.dataapi.limits import MAX_SESSIONS_PER_SET
from learnosity_core.delivery.batching import Batcher
from learnosity_core.delivery.ledger import Ledger, SessionEntry
from learnosity_core.delivery.staging import Shard, StoragePath, write_plan_summary
from learnosity_core.delivery.verify import STAND_IN_PREFIX
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
    strict: bool = False
    landing: str | None = None
    found: int = 0
    invalid_by_reason: dict[str, int] = Field(default_factory=dict)
    duplicates: int = 0
    already_delivered: int = 0
    staged: int = 0
    shards: list[Shard] = Field(default_factory=list)
    # ledger key (the session id, or a stand-in for a blob naming none) -> where its blob came from;
    # the file moves on once Learnosity's job says how the session ended
    sources: dict[str, BlobSource] = Field(default_factory=dict)
    invalid: list[tuple[str, str, str]] = Field(default_factory=list)  # (source name, code, message)
    warnings: list[tuple[str, str]] = Field(default_factory=list)  # (source name, warning) of blobs sent
    warnings_by_code: dict[str, int] = Field(default_factory=dict)


class _Candidate(BaseModel):
    source: BlobSource
    blob: str
    session: FailedSession
    order: int

    @property
    def key(self) -> str:
        """The session id when the blob names one, else a stand-in from its content."""
        return self.session.session_id or ledger_key(self.session)


def ledger_key(session: FailedSession) -> str:
    """A blob naming no session is known by its content: the same blob dropped twice is one."""
    return f"{STAND_IN_PREFIX}{session.content_hash[: 64 - len(STAND_IN_PREFIX)]}"


def normalise_blob(raw: str) -> str:
    """The base64 text without the whitespace and line breaks copying adds."""
    return "".join(raw.split())


def _rank(candidate: _Candidate) -> tuple[int, str, int]:
    """Highest revision first, then the latest save, then the last one read (of one session)."""
    session = candidate.session
    return (session.newest_revision(), session.dt_saved or "", candidate.order)


def plan_replay(
    landing: StoragePath,
    table_blobs: Iterable[tuple[str, str]],
    ledger: Ledger,
    stage: StoragePath,
    run_id: str,
    *,
    dry_run: bool = False,
    strict: bool = False,
    max_shards: int = 16,
) -> ReplaySummary:
    """Decide what this replay sends; move invalid and superseded files out of the landing folder.
    `strict` quarantines a blob failing a *should* check too (see `blob`)."""
    summary = ReplaySummary(run_id=run_id, dry_run=dry_run, strict=strict, landing=str(landing))
    reasons: Counter[str] = Counter()
    candidates: list[_Candidate] = []
    files = {p.name: p for p in landing_files(landing)}

    def consider(source: BlobSource, raw: bytes | str) -> None:
        summary.found += 1
        try:
            session = decode_failed_session(raw, strict=strict)
        except BlobError as exc:
            reasons[exc.code] += 1
            summary.invalid.append((source.name, exc.code, exc.message))
            if source.origin == "file" and not dry_run:
                move(files[source.name], landing, QUARANTINE_FOLDER, f"{exc.code}: {exc.message}")
            return
        text = raw.decode("ascii") if isinstance(raw, bytes) else raw
        candidates.append(
            _Candidate(source=source, blob=normalise_blob(text), session=session, order=len(candidates))
        )

    for name, path in files.items():
        consider(BlobSource(origin="file", name=name), path.read_bytes())
    for blob_id, blob in table_blobs:
        consider(BlobSource(origin="table", name=str(blob_id)), blob)
    summary.invalid_by_reason = dict(reasons)

    chosen: dict[str, _Candidate] = {}
    for candidate in candidates:
        current = chosen.get(candidate.key)
        if current is None:
            chosen[candidate.key] = candidate
            continue
        newer = candidate.session.session_id is not None and _rank(candidate) > _rank(current)
        keep, drop = (candidate, current) if newer else (current, candidate)  # the same content: the first
        chosen[candidate.key] = keep
        summary.duplicates += 1
        why = f"{'superseded by' if keep.session.session_id else 'same blob as'} {keep.source.name}"
        log.info(
            "Duplicate of %s: keeping %s, setting aside %s", keep.key, keep.source.name, drop.source.name
        )
        if drop.source.origin == "file" and not dry_run:
            move(files[drop.source.name], landing, DUPLICATES_FOLDER, why)

    delivered = ledger.delivered((key, c.session.content_hash) for key, c in chosen.items())
    summary.already_delivered = len(delivered)
    ready = [c for key, c in sorted(chosen.items()) if key not in delivered]
    for key, c in chosen.items():
        if key in delivered and c.source.origin == "file" and not dry_run:
            move(files[c.source.name], landing, PROCESSED_FOLDER)
    summary.staged = len(ready)
    warning_codes: Counter[str] = Counter()
    for c in ready:
        summary.warnings.extend((c.source.name, str(w)) for w in c.session.warnings)
        warning_codes.update(w.code for w in c.session.warnings)
    summary.warnings_by_code = dict(warning_codes)
    if not dry_run:
        batcher = Batcher(stage, ledger, run_id, "failed_submission", MAX_SESSIONS_PER_SET)
        for c in ready:
            session = c.session
            batcher.add(
                "replay",
                SessionEntry(c.key, session.content_hash, session.activity_id, session.user_id),
                c.blob,
            )
            summary.sources[c.key] = c.source
        summary.shards = batcher.finish(max_shards)
    write_plan_summary(stage, summary)
    return summary
