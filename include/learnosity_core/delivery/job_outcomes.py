"""Turn finished (or still unfinished) jobs into per-session ledger outcomes."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import Protocol

from pydantic import BaseModel

from learnosity_core.dataapi.models import Job, JobStatus
from learnosity_core.delivery.ledger import Ledger, SessionOutcome, SessionStatus

log = logging.getLogger(__name__)


class JobReader(Protocol):
    """The one Data API read recording needs (the real client satisfies it)."""

    def get_jobs(self, references: Sequence[str]) -> list[Job]: ...


class RecordResult(BaseModel):
    """How a run's jobs ended, counted by session."""

    jobs: int
    completed: int
    failed: int


def session_outcomes(job: Job | None, session_ids: Sequence[str], reference: str) -> list[SessionOutcome]:
    """Completed sessions, sessions the job rejected (with its reason), or all failed when it halted."""
    if job is None:
        return [
            SessionOutcome(s, SessionStatus.FAILED, f"job {reference} unknown to the Data API")
            for s in session_ids
        ]
    status = JobStatus(job.status)
    if status == JobStatus.HALTED:
        reason = (job.data.halt_reason if job.data else None) or "no reason given"
        return [
            SessionOutcome(s, SessionStatus.FAILED, f"job {reference} halted: {reason}") for s in session_ids
        ]
    if not status.is_terminal:
        message = f"job {reference} still {status.value} when the wait timed out"
        return [SessionOutcome(s, SessionStatus.FAILED, message) for s in session_ids]
    stored = set(job.data.sessions_stored) if job.data else set()
    errors = {e.session_id: f"{e.code}: {e.message}" for e in (job.data.errors if job.data else [])}
    outcomes = []
    for sid in session_ids:
        if sid in stored:
            outcomes.append(SessionOutcome(sid, SessionStatus.COMPLETED))
        else:
            error = errors.get(sid, f"job {reference} completed without storing this session")
            outcomes.append(SessionOutcome(sid, SessionStatus.FAILED, error))
    return outcomes


def record_jobs(client: JobReader, ledger: Ledger, run_id: str) -> RecordResult:
    """Read every job of the run once and write each session's outcome (and job errors) to the ledger."""
    jobs_sessions = ledger.jobs_of_run(run_id)
    jobs = {job.reference: job for job in client.get_jobs(list(jobs_sessions))} if jobs_sessions else {}
    counts: Counter[str] = Counter()
    for reference, session_ids in jobs_sessions.items():
        job = jobs.get(reference)
        outcomes = session_outcomes(job, session_ids, reference)
        ledger.record_job(reference, str(job.status) if job is not None else "unknown", outcomes)
        counts.update(outcome.status.value for outcome in outcomes)
    result = RecordResult(
        jobs=len(jobs_sessions),
        completed=counts[SessionStatus.COMPLETED.value],
        failed=counts[SessionStatus.FAILED.value],
    )
    log.info(
        "Recorded %d jobs: %d sessions completed, %d failed", result.jobs, result.completed, result.failed
    )
    return result
