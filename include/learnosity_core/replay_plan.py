"""Plan a failed-submission replay: collect blobs, quarantine bad ones, keep one per session, stage.

Blob files come from a landing folder (one base64 string per file, as copied from the failed
submission dialog or downloaded) and optionally from a warehouse table. Files are never deleted:
an invalid one moves to `quarantine/` with a `.reason.txt` beside it, a superseded duplicate to
`duplicates/`, and a replayed one to `processed/` only after its job completed.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, Field

from learnosity_core.failed_submission import BlobError, FailedSession, decode_failed_session
from learnosity_core.ledger import Ledger, SessionEntry
from learnosity_core.staging import (
    Shard,
    StagedBatch,
    StoragePath,
    assign_shards,
    safe_name,
    write_batch,
    write_shards,
)

log = logging.getLogger(__name__)

QUARANTINE_FOLDER = "quarantine"
DUPLICATES_FOLDER = "duplicates"
PROCESSED_FOLDER = "processed"
_RESERVED = {QUARANTINE_FOLDER, DUPLICATES_FOLDER, PROCESSED_FOLDER}


class BlobSource(BaseModel):
    """Where a blob came from: a landing file (its name) or a warehouse row (its id)."""

    origin: str  # "file" | "table"
    name: str


class ReplaySummary(BaseModel):
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


def landing_files(landing: StoragePath) -> list[Any]:
    """Blob files directly in the landing folder (not in its bookkeeping sub-folders)."""
    if not landing.exists():
        return []
    files = [p for p in landing.iterdir() if p.is_file() and not p.name.endswith(".reason.txt")]
    return sorted(files, key=lambda p: p.name)


def move(path: Any, landing: StoragePath, folder: str, reason: str | None = None) -> None:
    """Move a landing file into a sub-folder (never delete), with its reason beside it."""
    target_dir = landing / folder
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / path.name
    target.write_bytes(path.read_bytes())
    if reason is not None:
        (target_dir / f"{path.name}.reason.txt").write_text(reason + "\n", encoding="utf-8")
    path.unlink()


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
    summary = ReplaySummary(run_id=run_id, dry_run=dry_run)
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
    if dry_run or not ready:
        return summary

    sessions_per_batch: dict[str, int] = {}
    for number, start in enumerate(range(0, len(ready), 50), start=1):
        part = ready[start : start + 50]
        batch_id = f"{safe_name(run_id)}-replay-{number:05d}"
        name = write_batch(
            stage,
            StagedBatch(
                batch_id=batch_id,
                data_format="failed_submission",
                session_ids=[c.session.session_id for c in part],
                entries=[c.blob for c in part],
            ),
        )
        ledger.stage(
            run_id,
            batch_id,
            [
                SessionEntry(c.session.session_id, c.content_hash, c.session.activity_id, c.session.user_id)
                for c in part
            ],
            data_format="failed_submission",
        )
        sessions_per_batch[name] = len(part)
        summary.sources.update({c.session.session_id: c.source for c in part})
    summary.shards = write_shards(
        stage, assign_shards(sorted(sessions_per_batch), max_shards), sessions_per_batch
    )
    return summary


def settle_files(landing: StoragePath, summary: ReplaySummary, completed: Iterable[str]) -> int:
    """Move the files of completed sessions to processed/; the others stay for the next run."""
    moved = 0
    for session_id in completed:
        source = summary.sources.get(session_id)
        if source is None or source.origin != "file":
            continue
        path = landing / source.name
        if path.exists():
            move(path, landing, PROCESSED_FOLDER)
            moved += 1
    return moved
