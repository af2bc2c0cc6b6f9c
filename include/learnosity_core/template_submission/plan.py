"""Plan a template-submission run: extract, fetch templates, transform, skip delivered, stage.

Everything a run will send is decided here and written to the stage folder; the submit tasks
only read files. Rows that cannot be sent go to the quarantine CSV and the ledger.
"""

from __future__ import annotations

import csv
import logging
from collections import Counter, defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import IO, Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field, field_validator, model_validator
from sqlalchemy.engine import Engine

from learnosity_core.dataapi.limits import MAX_SESSIONS_PER_SET
from learnosity_core.delivery.batching import Batcher
from learnosity_core.delivery.ledger import (
    DELIVERED,
    NEVER_SETTLED,
    Ledger,
    SessionEntry,
    SessionStatus,
    Standing,
)
from learnosity_core.delivery.progress import Progress
from learnosity_core.delivery.review import ActivityFigures, PlanFigures
from learnosity_core.delivery.staging import (
    Shard,
    StoragePath,
    open_private_text,
    write_plan_summary,
    write_template,
)
from learnosity_core.delivery.streaming import PlanStream
from learnosity_core.delivery.warehouse import Source
from learnosity_core.template_submission.extract import (
    Window,
    changed_activities,
    counted_rows,
    named_templates,
    names_activity,
)
from learnosity_core.template_submission.templates import (
    TemplateFetcher,
    TemplateRef,
    resolve_templates,
)
from learnosity_core.template_submission.transform import SessionIdClaims, TemplateIndex, transform_chunks

log = logging.getLogger(__name__)

QUARANTINE_FILE = "quarantine.csv"
RECONCILE_DAYS = 30  # how far back a reconcile looks unless told
STREAM_CHUNK_ROWS = 10_000  # rows per chunk when sending while planning
QUARANTINE_COLUMNS = ["row_id", "activity_id", "user_id", "session_id", "question_id", "reason", "message"]


# The report's name for rows whose activity_id is missing, blank or undecodable.
NO_ACTIVITY = "(no activity_id)"


class ActivityCounts(BaseModel):
    """What happened to one activity's rows: each row read is staged, skipped (its session's
    same content was delivered or rejected before), quarantined or held back; `unaccounted`
    says whether they add up."""

    rows: int = 0
    rows_held_back: int = 0
    held_back: str | None = None  # why the whole activity waits for a later run, and what to do
    rows_quarantined: int = 0
    quarantined_by_reason: dict[str, int] = Field(default_factory=dict)
    rows_staged: int = 0
    rows_skipped: int = 0
    sessions_ready: int = 0
    sessions_already_delivered: int = 0
    sessions_already_rejected: int = 0
    sessions_staged: int = 0
    sessions_corrected: int = 0  # of those staged: completed before with other content
    sessions_quarantined: int = 0
    # Sent as written but worth a look (e.g. `over_max_length`: a paper answer longer than the limit).
    warnings_by_code: dict[str, int] = Field(default_factory=dict)

    @property
    def unaccounted(self) -> int:
        """Rows read but neither staged, skipped, quarantined nor held back: 0 unless a bug."""
        return self.rows - self.rows_staged - self.rows_skipped - self.rows_quarantined - self.rows_held_back


class PlanSummary(BaseModel):
    """What a run decided; saved as plan.json beside the batches for the report."""

    run_id: str
    dry_run: bool
    window_start: str | None
    window_end: str | None
    activities: dict[str, ActivityCounts]
    shards: list[Shard]
    quarantine_csv: str | None
    # Only a run that covered everything since the last delivered window may advance it: not one
    # filtered to some activities, ending early, or starting after where the window stood.
    advances_window: bool = False
    reconcile: bool = False

    def review_figures(self) -> PlanFigures:
        """The plan as an approver sees it: per activity, rows read, set aside and sessions to send."""
        return review_figures(self.activities, self.dry_run)


def review_figures(
    activities: Mapping[str, ActivityCounts], dry_run: bool, *, decided_only: bool = False
) -> PlanFigures:
    """Per activity: rows read, set aside and sessions to send; `decided_only` counts as read only
    the rows already staged, skipped or set aside (a plan part-way, whose last rows wait in the
    transform for the rest of their session)."""
    reasons: Counter[str] = Counter()
    for c in activities.values():
        reasons.update(c.quarantined_by_reason)
        if c.rows_held_back:
            reasons["activity held back"] += c.rows_held_back
    return PlanFigures(
        dry_run=dry_run,
        activities={
            name: ActivityFigures(
                read=c.rows - c.unaccounted if decided_only else c.rows,
                quarantined=c.rows_quarantined + c.rows_held_back,
                sessions=c.sessions_staged,
            )
            for name, c in activities.items()
        },
        quarantined_by_reason=dict(reasons),
    )


class PlanRequest(BaseModel):
    """What one run was asked to do: the trigger form's choices, typed and checked once."""

    run_id: str
    activity_ids: list[str] = Field(default_factory=list)
    window_start: datetime | None = None
    window_end: datetime | None = None
    batch_size: int = Field(default=MAX_SESSIONS_PER_SET, ge=1, le=MAX_SESSIONS_PER_SET)
    max_shards: int = Field(default=16, ge=1, le=1024)
    force_resubmit: bool = False
    dry_run: bool = False
    chunksize: int = Field(default=50_000, ge=1)
    # Ignore the incremental window: compare every session changed since `reconcile_since`
    # (default RECONCILE_DAYS back) with the ledger and send what is missing or different.
    reconcile: bool = False
    reconcile_since: datetime | None = None

    @field_validator("activity_ids", mode="before")
    @classmethod
    def _no_activities_means_all(cls, value: Any) -> Any:
        return [] if value in (None, "") else value

    @field_validator("window_start", "window_end", "reconcile_since", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("window_start", "window_end", "reconcile_since")
    @classmethod
    def _naive_is_utc(cls, value: datetime | None) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value

    @field_validator("window_end", "reconcile_since")
    @classmethod
    def _not_in_the_future(cls, value: datetime | None) -> datetime | None:
        if value is not None and value > datetime.now(UTC):
            raise ValueError("must not be in the future: rows updated after it would never be sent")
        return value

    @model_validator(mode="after")
    def _start_before_end(self) -> PlanRequest:
        if self.window_start and self.window_end and self.window_start >= self.window_end:
            raise ValueError("window_start must be before window_end")
        return self


def plan_template_run(
    engine: Engine,
    source: Source,
    fetch_template: TemplateFetcher,
    ledger: Ledger,
    stage: StoragePath,
    request: PlanRequest,
    dag_id: str,
    run_end: datetime,
    template_map: Mapping[str, TemplateRef] | None = None,
    stream: PlanStream | None = None,
) -> PlanSummary:
    """Decide and stage everything this run sends; return counts and the shards to map over.

    The window starts where the last fully delivered run of `dag_id` ended (or as requested) and
    ends at `run_end` (or as requested); a reconcile ignores it and compares every session since
    `reconcile_since` with the ledger instead (late loads the window has passed, lost deliveries).
    The run and its window are recorded first: the window counts as delivered only once the
    report finds every session delivered and no activity held back. Each activity's template is
    found as `templates` describes.
    """
    last_end = ledger.last_window_end(dag_id)
    window = Window.resolve(request.window_start, request.window_end, last_end, run_end)
    if request.reconcile:
        window = Window(
            start=request.reconcile_since or run_end - timedelta(days=RECONCILE_DAYS), end=run_end
        )
    starts_where_it_stood = request.window_start is None or (
        last_end is not None and request.window_start <= last_end
    )
    log.info("Window: %s to %s", window.start or "the beginning", window.end)
    ledger.start_run(dag_id, request.run_id, window.start, window.end)
    activities = changed_activities(engine, source, window, request.activity_ids)
    log.info("%d activities have changed sessions in the window", len(activities))
    named = named_templates(engine, source, window, request.activity_ids)
    found = resolve_templates(activities, named, template_map or {}, fetch_template)
    held_back = found.held_back
    for activity_id, template in found.templates.items():
        write_template(stage, activity_id, template)

    counts: dict[str, ActivityCounts] = defaultdict(ActivityCounts)
    for activity_id, reason in held_back.items():
        counts[activity_id].held_back = reason
    batcher = Batcher(stage, ledger, dag_id, request.run_id, "from_template", request.batch_size)
    # Sending starts with the first chunk staged: a smaller one starts it sooner.
    chunksize = request.chunksize if stream is None else min(request.chunksize, STREAM_CHUNK_ROWS)
    counted_window, chunks = counted_rows(engine, source, window, request.activity_ids, chunksize)
    progress = Progress(counted_window.rows, "plan", log, unit="rows")
    if stream is not None:
        stream.begin(counted_window.sessions)
    counted = _counted(chunks, counts, progress, set(held_back))
    claims = SessionIdClaims(known_owners=ledger.owners)
    quarantine_path = stage / QUARANTINE_FILE
    recorded: set[str] = set()  # sessions already in the ledger's quarantine
    # Streamed as rows are found: a template that no longer matches quarantines every row, and
    # that must fit in the same memory as a clean run.
    with open_private_text(quarantine_path) as quarantine:
        csv.writer(quarantine).writerow(QUARANTINE_COLUMNS)
        for result in transform_chunks(counted, TemplateIndex(found.templates), claims):
            problems = _record_quarantine(result.quarantine, counts, quarantine, recorded)
            if problems and not request.dry_run:
                ledger.quarantine(dag_id, request.run_id, "from_template", problems)
            _record_warnings(result.warnings, counts)
            _stage_sessions(result.sessions, counts, ledger, batcher, request)
            if stream is not None:
                stream.offer(batcher.take_new(), review_figures(counts, request.dry_run, decided_only=True))
    batcher.flush()
    if stream is not None:
        stream.offer(batcher.take_new(), review_figures(counts, request.dry_run))
    shards = batcher.finish(request.max_shards, stream.offered if stream is not None else ())

    quarantine_csv: str | None = None
    if any(c.rows_quarantined for c in counts.values()):
        quarantine_csv = str(quarantine_path)
    else:
        quarantine_path.unlink()
    summary = PlanSummary(
        run_id=request.run_id,
        dry_run=request.dry_run,
        window_start=window.start.isoformat() if window.start else None,
        window_end=window.end.isoformat() if window.end else None,
        activities=dict(counts),
        shards=shards,
        quarantine_csv=quarantine_csv,
        advances_window=not request.reconcile
        and not request.activity_ids
        and request.window_end is None
        and starts_where_it_stood,
        reconcile=request.reconcile,
    )
    write_plan_summary(stage, summary)
    return summary


def activity_key(value: Any) -> str:
    """The activity a row is counted under: its id, or `NO_ACTIVITY` when it names none."""
    return str(value) if names_activity(value) else NO_ACTIVITY


def _counted(chunks: Any, counts: dict[str, ActivityCounts], progress: Progress, held_back: set[str]) -> Any:
    """Count every row per activity; rows of held-back activities are counted and set aside."""
    for chunk in chunks:
        read = len(chunk)
        # activity_key once per distinct id, not per row: this runs over every row of the run
        codes, distinct = pd.factorize(chunk["activity_id"], use_na_sentinel=False)
        names = [activity_key(value) for value in distinct]
        rows = np.bincount(codes, minlength=len(names))
        waits = np.array([name in held_back for name in names], dtype=np.bool_)
        for name, count, waiting in zip(names, rows.tolist(), waits.tolist(), strict=True):
            counts[name].rows += count
            if waiting:
                counts[name].rows_held_back += count
        if waits.any():
            chunk = chunk.loc[~waits[codes]]
        yield chunk
        progress.advance(read)


def _record_quarantine(
    quarantine: pd.DataFrame,
    counts: dict[str, ActivityCounts],
    csv_file: IO[str],
    recorded: set[str],
) -> dict[str, tuple[str, str, str]]:
    """Count and append a chunk's quarantined rows to the CSV; return its sessions not recorded
    before (session id -> activity, learner, first reason) for the ledger.

    Set-based: a template that no longer matches quarantines every row of the run.
    """
    if quarantine.empty:
        return {}
    table = quarantine[QUARANTINE_COLUMNS].astype(object)
    table = table.where(table.notna(), "")
    table.to_csv(csv_file, header=False, index=False, lineterminator="\r\n")
    codes, distinct = pd.factorize(table["activity_id"], use_na_sentinel=False)
    activities = pd.Series([activity_key(value) for value in distinct], dtype=object).take(codes)
    activities.index = table.index
    table = table.assign(activity=activities, reason=table["reason"].astype(str))
    for (activity, reason), rows in table.groupby(["activity", "reason"], sort=False).size().items():
        c = counts[str(activity)]
        c.rows_quarantined += int(rows)
        c.quarantined_by_reason[str(reason)] = c.quarantined_by_reason.get(str(reason), 0) + int(rows)
    # Rows without an activity or learner have no session id: nothing to record.
    named = table["session_id"].map(_is_text) & table["user_id"].map(_is_text)
    firsts = table[named].drop_duplicates("session_id")
    firsts = firsts[~firsts["session_id"].isin(recorded)]
    sessions: dict[str, tuple[str, str, str]] = {}
    for sid, activity, user, reason, message in firsts[
        ["session_id", "activity", "user_id", "reason", "message"]
    ].itertuples(index=False):
        recorded.add(sid)
        sessions[sid] = (activity, user, f"{reason}: {message}")
        counts[activity].sessions_quarantined += 1
    return sessions


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and value != ""


def _record_warnings(warnings: pd.DataFrame, counts: dict[str, ActivityCounts]) -> None:
    for activity_id, code, count in warnings[["activity_id", "code", "count"]].itertuples(index=False):
        by_code = counts[str(activity_id)].warnings_by_code
        by_code[str(code)] = by_code.get(str(code), 0) + int(count)


def _stage_sessions(
    sessions: pd.DataFrame,
    counts: dict[str, ActivityCounts],
    ledger: Ledger,
    batcher: Batcher,
    request: PlanRequest,
) -> None:
    if sessions.empty:
        return
    if request.force_resubmit:
        standing: dict[str, Standing] = {}
        done = NEVER_SETTLED  # every session is sent again
    else:
        standing = ledger.standing(dict(zip(sessions["session_id"], sessions["content_hash"], strict=True)))
        done = DELIVERED  # left out of the answer: completed with this content
    columns = ["activity_id", "session_id", "user_id", "content_hash", "session_json", "row_count"]
    for activity_id, session_id, user_id, digest, entry, rows in sessions[columns].itertuples(index=False):
        c = counts[activity_id]
        c.sessions_ready += 1
        was = standing.get(session_id, done)
        if was.same_content:
            c.rows_skipped += int(rows)
            if was.status == SessionStatus.REJECTED:
                c.sessions_already_rejected += 1
            else:
                c.sessions_already_delivered += 1
            continue
        c.sessions_staged += 1
        c.rows_staged += int(rows)
        if was.status == SessionStatus.COMPLETED:
            c.sessions_corrected += 1  # its delivered content changed: sent again whole
        if not request.dry_run:
            batcher.add(activity_id, SessionEntry(session_id, digest, activity_id, user_id), entry)
