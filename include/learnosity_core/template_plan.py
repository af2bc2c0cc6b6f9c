"""Plan a template-submission run: extract, fetch templates, transform, skip delivered, stage.

Everything a run will send is decided here and written to the stage folder; the submit tasks
only read files. Rows that cannot be sent go to the quarantine CSV and the ledger.
"""

from __future__ import annotations

import csv
import io
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
from pydantic import BaseModel, Field
from sqlalchemy.engine import Engine

from learnosity_core.dataapi.errors import DataApiValidationError
from learnosity_core.extract import Source, Window, changed_activities, count_rows, iter_rows
from learnosity_core.ledger import Ledger, SessionEntry
from learnosity_core.progress import Progress
from learnosity_core.staging import (
    Shard,
    StoragePath,
    assign_shards,
    safe_name,
    write_session_json_batch,
    write_shards,
    write_template,
)
from learnosity_core.transform import TemplateIndex, transform_chunks

log = logging.getLogger(__name__)

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
    run_id: str
    activity_ids: list[str] = Field(default_factory=list)
    batch_size: int = Field(default=50, ge=1, le=50)
    max_shards: int = Field(default=16, ge=1, le=1024)
    force_resubmit: bool = False
    dry_run: bool = False
    chunksize: int = 50_000


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


class _Batcher:
    """Cuts ready sessions into per-activity batches of at most `size` and stages them."""

    def __init__(self, stage: StoragePath, ledger: Ledger, request: PlanRequest) -> None:
        self.stage = stage
        self.ledger = ledger
        self.request = request
        self.sessions_per_batch: dict[str, int] = {}
        self._pending: dict[str, list[tuple[str, str, str, str]]] = defaultdict(list)
        self._numbers: Counter[str] = Counter()

    def add(self, activity_id: str, session_id: str, user_id: str, content_hash: str, entry: str) -> None:
        pending = self._pending[activity_id]
        pending.append((session_id, user_id, content_hash, entry))
        if len(pending) >= self.request.batch_size:
            self._flush(activity_id)

    def _flush(self, activity_id: str) -> None:
        pending = self._pending.pop(activity_id, [])
        if not pending:
            return
        self._numbers[activity_id] += 1
        batch_id = (
            f"{safe_name(self.request.run_id)}-{safe_name(activity_id)}-{self._numbers[activity_id]:05d}"
        )
        name = write_session_json_batch(
            self.stage, batch_id, activity_id, [p[0] for p in pending], [p[3] for p in pending]
        )
        self.ledger.stage(
            self.request.run_id,
            batch_id,
            [SessionEntry(sid, digest, activity_id, user) for sid, user, digest, _ in pending],
            data_format="from_template",
            activity_id=activity_id,
        )
        self.sessions_per_batch[name] = len(pending)

    def finish(self) -> dict[str, int]:
        for activity_id in list(self._pending):
            self._flush(activity_id)
        return self.sessions_per_batch


def plan_template_run(
    engine: Engine,
    source: Source,
    window: Window,
    fetch_template: TemplateFetcher,
    ledger: Ledger,
    stage: StoragePath,
    request: PlanRequest,
) -> PlanSummary:
    """Decide and stage everything this run sends; return counts and the shards to map over."""
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
    batcher = _Batcher(stage, ledger, request)
    progress = Progress(count_rows(engine, source, window, request.activity_ids), "plan", log, unit="rows")
    chunks = iter_rows(engine, source, window, request.activity_ids, request.chunksize)
    for result in transform_chunks(_counted(chunks, counts, progress), TemplateIndex(templates)):
        _record_quarantine(result.quarantine, counts, writer, quarantined_sessions)
        _stage_sessions(result.sessions, counts, ledger, batcher, request)
    sessions_per_batch = {} if request.dry_run else batcher.finish()
    if quarantined_sessions and not request.dry_run:
        ledger.quarantine(request.run_id, "from_template", quarantined_sessions)

    quarantine_csv: str | None = None
    if any(c.rows_quarantined for c in counts.values()):
        path = stage / "quarantine.csv"
        path.write_text(quarantine.getvalue(), encoding="utf-8")
        quarantine_csv = str(path)
    shards = write_shards(
        stage, assign_shards(sorted(sessions_per_batch), request.max_shards), sessions_per_batch
    )
    summary = PlanSummary(
        run_id=request.run_id,
        dry_run=request.dry_run,
        window_start=window.start.isoformat() if window.start else None,
        window_end=window.end.isoformat() if window.end else None,
        activities=dict(counts),
        shards=shards,
        quarantine_csv=quarantine_csv,
    )
    (stage / "plan.json").write_text(summary.model_dump_json(indent=2), encoding="utf-8")
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
    batcher: _Batcher,
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
            batcher.add(activity_id, session_id, user_id, digest, entry)
