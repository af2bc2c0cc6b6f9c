"""Plan a template-submission run: extract, fetch templates, transform, skip delivered, stage.

Everything a run will send is decided here and written to the stage folder; the submit tasks
only read files. Rows that cannot be sent go to the quarantine CSV and the ledger.
"""

from __future__ import annotations

import csv
import io
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from pydantic import BaseModel, Field, field_validator
from sqlalchemy.engine import Engine

from learnosity_core.dataapi.errors import DataApiValidationError
from learnosity_core.dataapi.limits import MAX_SESSIONS_PER_SET
from learnosity_core.delivery.batching import Batcher
from learnosity_core.delivery.ledger import Ledger, SessionEntry
from learnosity_core.delivery.progress import Progress
from learnosity_core.delivery.staging import Shard, StoragePath, write_plan_summary, write_template
from learnosity_core.delivery.warehouse import Source
from learnosity_core.template_submission.extract import Window, changed_activities, count_rows, iter_rows
from learnosity_core.template_submission.transform import TemplateIndex, transform_chunks

log = logging.getLogger(__name__)

QUARANTINE_FILE = "quarantine.csv"
QUARANTINE_COLUMNS = ["row_id", "activity_id", "user_id", "session_id", "question_id", "reason", "message"]


class ActivityCounts(BaseModel):
    rows: int = 0
    rows_quarantined: int = 0
    quarantined_by_reason: dict[str, int] = Field(default_factory=dict)
    sessions_ready: int = 0
    sessions_already_delivered: int = 0
    sessions_staged: int = 0
    sessions_quarantined: int = 0


class PlanSummary(BaseModel):
    """What a run decided; saved as plan.json beside the batches for the report."""

    run_id: str
    dry_run: bool
    window_start: str | None
    window_end: str | None
    activities: dict[str, ActivityCounts]
    shards: list[Shard]
    quarantine_csv: str | None


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

    @field_validator("activity_ids", mode="before")
    @classmethod
    def _no_activities_means_all(cls, value: Any) -> Any:
        return [] if value in (None, "") else value

    @field_validator("window_start", "window_end", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("window_start", "window_end")
    @classmethod
    def _naive_is_utc(cls, value: datetime | None) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


TemplateFetcher = Callable[[str], dict[str, Any]]


def fetch_templates(activity_ids: Sequence[str], fetch: TemplateFetcher) -> dict[str, dict[str, Any]]:
    """One template per activity; an activity Learnosity does not know is left out (its rows quarantine)."""
    templates: dict[str, dict[str, Any]] = {}
    for activity_id in activity_ids:
        try:
            templates[activity_id] = fetch(activity_id)
        except DataApiValidationError as exc:
            log.warning("No template for activity %s: %s", activity_id, exc)
    return templates


def plan_template_run(
    engine: Engine,
    source: Source,
    fetch_template: TemplateFetcher,
    ledger: Ledger,
    stage: StoragePath,
    request: PlanRequest,
    dag_id: str,
    run_end: datetime,
) -> PlanSummary:
    """Decide and stage everything this run sends; return counts and the shards to map over.

    The window starts where the last fully delivered run of `dag_id` ended (or as requested) and
    ends at `run_end` (or as requested). The run and its window are recorded first: the window
    counts as delivered only once the report finds nothing failed.
    """
    window = Window.resolve(request.window_start, request.window_end, ledger.last_window_end(dag_id), run_end)
    log.info("Window: %s to %s", window.start or "the beginning", window.end)
    ledger.start_run(dag_id, request.run_id, window.start, window.end)
    activities = changed_activities(engine, source, window, request.activity_ids)
    log.info("%d activities have changed sessions in the window", len(activities))
    templates = fetch_templates(activities, fetch_template)
    for activity_id, template in templates.items():
        write_template(stage, activity_id, template)

    counts: dict[str, ActivityCounts] = defaultdict(ActivityCounts)
    quarantine = io.StringIO()
    writer = csv.DictWriter(quarantine, fieldnames=QUARANTINE_COLUMNS)
    writer.writeheader()
    quarantined_sessions: dict[str, tuple[str, str, str]] = {}
    batcher = Batcher(stage, ledger, request.run_id, "from_template", request.batch_size)
    progress = Progress(count_rows(engine, source, window, request.activity_ids), "plan", log, unit="rows")
    chunks = iter_rows(engine, source, window, request.activity_ids, request.chunksize)
    for result in transform_chunks(_counted(chunks, counts, progress), TemplateIndex(templates)):
        _record_quarantine(result.quarantine, counts, writer, quarantined_sessions)
        _stage_sessions(result.sessions, counts, ledger, batcher, request)
    shards = batcher.finish(request.max_shards)
    if quarantined_sessions and not request.dry_run:
        ledger.quarantine(request.run_id, "from_template", quarantined_sessions)

    quarantine_csv: str | None = None
    if any(c.rows_quarantined for c in counts.values()):
        path = stage / QUARANTINE_FILE
        path.write_text(quarantine.getvalue(), encoding="utf-8")
        quarantine_csv = str(path)
    summary = PlanSummary(
        run_id=request.run_id,
        dry_run=request.dry_run,
        window_start=window.start.isoformat() if window.start else None,
        window_end=window.end.isoformat() if window.end else None,
        activities=dict(counts),
        shards=shards,
        quarantine_csv=quarantine_csv,
    )
    write_plan_summary(stage, summary)
    return summary


def _counted(chunks: Any, counts: dict[str, ActivityCounts], progress: Progress) -> Any:
    for chunk in chunks:
        for activity_id, rows in chunk["activity_id"].value_counts().items():
            counts[str(activity_id)].rows += int(rows)
        yield chunk
        progress.advance(len(chunk))


def _record_quarantine(
    quarantine: pd.DataFrame,
    counts: dict[str, ActivityCounts],
    writer: csv.DictWriter,
    sessions: dict[str, tuple[str, str, str]],
) -> None:
    if quarantine.empty:
        return
    for record in quarantine[QUARANTINE_COLUMNS].to_dict("records"):
        activity = str(record["activity_id"])
        reason = str(record["reason"])
        c = counts[activity]
        c.rows_quarantined += 1
        c.quarantined_by_reason[reason] = c.quarantined_by_reason.get(reason, 0) + 1
        writer.writerow(record)
        sid = record.get("session_id")
        if isinstance(sid, str) and sid and sid not in sessions:
            sessions[sid] = (activity, str(record["user_id"]), f"{reason}: {record['message']}")
            c.sessions_quarantined += 1


def _stage_sessions(
    sessions: pd.DataFrame,
    counts: dict[str, ActivityCounts],
    ledger: Ledger,
    batcher: Batcher,
    request: PlanRequest,
) -> None:
    if sessions.empty:
        return
    delivered: set[str] = set()
    if not request.force_resubmit:
        delivered = ledger.delivered(zip(sessions["session_id"], sessions["content_hash"], strict=True))
    columns = ["activity_id", "session_id", "user_id", "content_hash", "session_json"]
    for activity_id, session_id, user_id, digest, entry in sessions[columns].itertuples(index=False):
        c = counts[activity_id]
        c.sessions_ready += 1
        if session_id in delivered:
            c.sessions_already_delivered += 1
            continue
        c.sessions_staged += 1
        if not request.dry_run:
            batcher.add(activity_id, SessionEntry(session_id, digest, activity_id, user_id), entry)
