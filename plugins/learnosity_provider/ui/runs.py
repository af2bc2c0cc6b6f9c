"""What the delivery page knows about a pipeline run: Airflow's run row, the outcome its report task
saved beside the report, and, while it runs, its counters from the ledger."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from airflow.models.dagrun import DagRun
from airflow.sdk import ObjectStoragePath
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from learnosity_core.delivery.run_progress import RunProgress, run_progress
from learnosity_core.delivery.staging import safe_name
from learnosity_core.reporting.render import REPORT_FILE
from learnosity_provider import resources
from learnosity_provider.outcome import OUTCOME_FILE, RunOutcome

log = logging.getLogger(__name__)
UNFINISHED = frozenset({"queued", "running"})


class RunView(BaseModel):
    """One run as the delivery page lists it."""

    dag_id: str
    run_id: str
    state: str
    started: datetime | None = None
    ended: datetime | None = None
    dry_run: bool = False
    outcome: RunOutcome | None = None
    progress: RunProgress | None = None
    progress_error: str | None = None

    @property
    def unfinished(self) -> bool:
        return self.state in UNFINISHED


def report_folder(dag_id: str, run_id: str) -> ObjectStoragePath:
    """The run's report folder, where the report task writes (nothing is created by looking)."""
    return resources.reports_root() / dag_id / safe_name(run_id)


def has_report(dag_id: str, run_id: str) -> bool:
    return (report_folder(dag_id, run_id) / REPORT_FILE).exists()


def read_outcome(dag_id: str, run_id: str) -> RunOutcome | None:
    """What the report task saved (`outcome.json`), or None before it ran or when unreadable."""
    path = report_folder(dag_id, run_id) / OUTCOME_FILE
    try:
        return RunOutcome.model_validate_json(path.read_text(encoding="utf-8")) if path.exists() else None
    except (OSError, ValueError) as exc:
        log.warning("Could not read the outcome of %s %s (%s)", dag_id, run_id, type(exc).__name__)
        return None


def find_run(session: Session, dag_id: str, run_id: str) -> DagRun | None:
    return session.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))


def _progress(view: RunView) -> None:
    try:
        view.progress = run_progress(resources.ledger(), view.dag_id, view.run_id)
    except Exception as exc:  # the page still lists the run; it says why the counters are missing
        log.warning("Could not read the ledger for %s %s (%s)", view.dag_id, view.run_id, type(exc).__name__)
        view.progress_error = f"the ledger could not be read ({type(exc).__name__}: {exc})"


def view_of(run: DagRun, *, with_progress: bool = True) -> RunView:
    conf: dict[str, Any] = run.conf or {}
    view = RunView(
        dag_id=run.dag_id,
        run_id=run.run_id,
        state=str(run.state or "queued"),
        started=run.start_date,
        ended=run.end_date,
        dry_run=str(conf.get("dry_run", "")).lower() in {"true", "1"},
        outcome=read_outcome(run.dag_id, run.run_id),
    )
    if with_progress and view.unfinished:
        _progress(view)
    return view


def recent_runs(session: Session, dag_ids: list[str], limit: int = 25) -> list[RunView]:
    """The newest runs of the given pipelines, newest first."""
    if not dag_ids:
        return []
    runs = session.scalars(
        select(DagRun).where(DagRun.dag_id.in_(dag_ids)).order_by(DagRun.run_after.desc()).limit(limit)
    )
    return [view_of(run) for run in runs]


def report_files(dag_id: str, run_id: str) -> list[str]:
    """The names of the files in the run's report folder (report, summary, quarantine CSVs)."""
    folder = report_folder(dag_id, run_id)
    if not folder.exists():
        return []
    return sorted(entry.name for entry in folder.iterdir() if entry.is_file())


def no_report_reason(view: RunView) -> str:
    """Why a run has no report, in the words the user needs (plan failed, still running, ...)."""
    if view.outcome is not None and view.outcome.problem:
        return f"The run wrote no report: {view.outcome.problem}"
    if view.unfinished:
        return "The run is still going: its report is written by its last task."
    if view.state == "failed":
        return "The run failed before its report task wrote a report; see the run's task logs in Airflow."
    if view.dry_run:
        return "This dry run wrote no report."
    return "This run wrote no report."
