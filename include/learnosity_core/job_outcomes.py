"""Turn finished (or still unfinished) jobs into per-session ledger outcomes."""

from __future__ import annotations

from collections.abc import Sequence

from learnosity_core.dataapi.models import Job, JobStatus
from learnosity_core.ledger import SessionOutcome, SessionStatus


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
