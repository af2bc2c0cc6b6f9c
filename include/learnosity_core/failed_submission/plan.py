"""Plan a failed-submission replay: collect blobs, quarantine bad ones, keep one per session, stage.

Blob files come from a landing folder (one base64 string per file, as copied from the failed
submission dialog or downloaded) and optionally from a warehouse table. What happens to each
file is in `landing`. A blob naming its session is deduplicated and recorded in the ledger by
that session (the newer revision wins); one naming none, by its content, so the same blob
dropped twice is still sent once.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable

from pydantic import BaseModel, Field

from learnosity_core.dataapi.limits import MAX_SESSIONS_PER_SET
from learnosity_core.delivery.batching import Batcher
from learnosity_core.delivery.ledger import Ledger, SessionEntry
from learnosity_core.delivery.review import ActivityFigures, PlanFigures
from learnosity_core.delivery.staging import (
    PlanMissingError,
    Shard,
    StoragePath,
    read_plan_summary,
    write_plan_summary,
)
from learnosity_core.delivery.verify import STAND_IN_PREFIX
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
    strict: bool = False
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
    # ledger key (the session id, or a stand-in for a blob naming none) -> where its blob came from;
    # the file moves on once Learnosity's job says how the session ended
    sources: dict[str, BlobSource] = Field(default_factory=dict)
    invalid: list[tuple[str, str, str]] = Field(default_factory=list)  # (source name, code, message)
    warnings: list[tuple[str, str]] = Field(default_factory=list)  # (source name, warning) of blobs sent
    warnings_by_code: dict[str, int] = Field(default_factory=dict)
    # file name -> the folder this plan moved it to: a retried plan no longer finds those files
    moved: dict[str, str] = Field(default_factory=dict)

    def review_figures(self) -> PlanFigures:
        """The replay as an approver sees it: one group, the blobs found, invalid and to send."""
        found = ActivityFigures(
            read=self.found, quarantined=sum(self.invalid_by_reason.values()), sessions=self.staged
        )
        return PlanFigures(
            dry_run=self.dry_run,
            unit="blobs",
            activities={"failed submissions": found},
            quarantined_by_reason=dict(self.invalid_by_reason),
        )


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
    dag_id: str,
    run_id: str,
    *,
    dry_run: bool = False,
    strict: bool = False,
    max_shards: int = 16,
    settle_s: float = DEFAULT_SETTLE_S,
    now: float | None = None,
) -> ReplaySummary:
    """Decide what this replay sends; move invalid and superseded files out of the landing folder.

    `strict` quarantines a blob failing a *should* check too (see `blob`). A run that is not a dry
    run first takes the landing location's lease; when another run holds it, this one lists,
    moves and stages nothing (its summary says which run has it)."""
    summary = ReplaySummary(run_id=run_id, dry_run=dry_run, strict=strict, landing=str(landing))
    earlier = _earlier_attempt(stage, run_id)
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
            summary.moved[source.name] = folder
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
            session = decode_failed_session(raw, strict=strict)
        except BlobError as exc:
            reject(source, exc)
            return
        text = raw.decode("ascii") if isinstance(raw, bytes) else raw
        candidates.append(
            _Candidate(source=source, blob=normalise_blob(text), session=session, order=len(candidates))
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
        current = chosen.get(candidate.key)
        if current is None:
            chosen[candidate.key] = candidate
            continue
        newer = candidate.session.session_id is not None and _rank(candidate) > _rank(current)
        keep, drop = (candidate, current) if newer else (current, candidate)  # the same content: the first
        chosen[candidate.key] = keep
        why = f"{'superseded by' if keep.session.session_id else 'same blob as'} {keep.source.name}"
        log.info(
            "Duplicate of %s: keeping %s, setting aside %s", keep.key, keep.source.name, drop.source.name
        )
        if set_aside(drop.source, DUPLICATES_FOLDER, why):
            summary.duplicates += 1

    delivered = ledger.delivered((key, c.session.content_hash) for key, c in chosen.items())
    ready = [c for key, c in sorted(chosen.items()) if key not in delivered]
    for key, c in chosen.items():
        if key in delivered and set_aside(c.source, PROCESSED_FOLDER):
            summary.already_delivered += 1
    summary.staged = len(ready)
    warning_codes: Counter[str] = Counter()
    for c in ready:
        summary.warnings.extend((c.source.name, str(w)) for w in c.session.warnings)
        warning_codes.update(w.code for w in c.session.warnings)
    summary.warnings_by_code = dict(warning_codes)
    if not dry_run:
        batcher = Batcher(stage, ledger, dag_id, run_id, "failed_submission", MAX_SESSIONS_PER_SET)
        for c in ready:
            session = c.session
            batcher.add(
                "replay",
                SessionEntry(c.key, session.content_hash, session.activity_id, session.user_id),
                c.blob,
            )
            summary.sources[c.key] = c.source
        summary.shards = batcher.finish(max_shards)
    if earlier is not None:
        _count_what_it_moved(summary, earlier)
    write_plan_summary(stage, summary)
    return summary


def _earlier_attempt(stage: StoragePath, run_id: str) -> ReplaySummary | None:
    """The summary an earlier try of this run's plan wrote, if any (a retry after a lost worker)."""
    try:
        earlier = read_plan_summary(stage, ReplaySummary)
    except PlanMissingError:
        return None
    return earlier if earlier.run_id == run_id else None


def _count_what_it_moved(summary: ReplaySummary, earlier: ReplaySummary) -> None:
    """Count again the files an earlier try moved out of the landing folder: this try cannot find
    them, and every file found by the run must be in its report."""
    invalid = {name: (name, code, message) for name, code, message in earlier.invalid}
    reasons = Counter(summary.invalid_by_reason)
    for name, folder in earlier.moved.items():
        if name in summary.moved:
            continue
        summary.moved[name] = folder
        summary.found += 1
        if folder == QUARANTINE_FOLDER:
            summary.invalid.append(invalid[name])
            reasons[invalid[name][1]] += 1
        elif folder == DUPLICATES_FOLDER:
            summary.duplicates += 1
        else:
            summary.already_delivered += 1
    summary.invalid_by_reason = dict(reasons)
