"""A run's own delivery counters, read from the ledger: what the wait task logs and the delivery
page shows while the run is going (many small submit shards each log only their own share)."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from pydantic import BaseModel

from learnosity_core.delivery.ledger import Ledger, SessionStatus, batches_table, of_run, sessions_table

# Sessions a run holds back never count as planned: only these are (or were) on their way.
_ON_THEIR_WAY = [s.value for s in SessionStatus if s is not SessionStatus.QUARANTINED]
_SENT = {SessionStatus.SUBMITTED, SessionStatus.COMPLETED, SessionStatus.FAILED, SessionStatus.REJECTED}


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


class RunProgress(BaseModel):
    """Sessions of one run by how far they got; `first_sent_at` dates the sending rate."""

    planned: int = 0
    sent: int = 0
    completed: int = 0
    failed: int = 0
    verified: int = 0
    first_sent_at: datetime | None = None

    def rate(self, now: datetime) -> float | None:
        """Sessions sent per second since the first batch went out (None before that)."""
        if self.first_sent_at is None or self.sent == 0:
            return None
        elapsed = (now - self.first_sent_at).total_seconds()
        return self.sent / elapsed if elapsed > 0 else None

    def time_left(self, now: datetime) -> str:
        """Until every planned session is sent, at the rate so far, said in words."""
        if self.sent >= self.planned:
            return "all sent"
        rate = self.rate(now)
        if not rate:
            return "not known until the first batch is sent"
        return f"about {_duration((self.planned - self.sent) / rate)} left to send"

    def line(self, now: datetime | None = None) -> str:
        """One log line; an empty run says there is nothing to send instead of a rate of nothing."""
        if self.planned == 0:
            return "run progress: nothing to send"
        now = now or datetime.now(UTC)
        # Once all is sent, a rate since the first batch only shrinks while the jobs run: not shown.
        rate = self.rate(now) if self.sent < self.planned else None
        return (
            f"run progress: {self.planned} sessions planned, {self.sent} sent"
            f" ({100 * self.sent // self.planned}%), {self.completed} completed, {self.failed} failed,"
            f" {self.verified} verified; {f'{rate:.1f} sessions/s, ' if rate else ''}{self.time_left(now)}"
        )


def run_progress(ledger: Ledger, dag_id: str, run_id: str) -> RunProgress:
    """The run's sessions counted by status in the ledger, in two small aggregate queries."""
    sessions = sessions_table.c
    with ledger.engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                sessions.status,
                sa.func.count(),
                sa.func.count().filter(sessions.verified.is_(True)),
            )
            .where(*of_run(sessions_table, dag_id, run_id), sessions.status.in_(_ON_THEIR_WAY))
            .group_by(sessions.status)
        ).all()
        first_sent = conn.execute(
            sa.select(sa.func.min(batches_table.c.submitted_at)).where(*of_run(batches_table, dag_id, run_id))
        ).scalar()
    by_status = {SessionStatus(status): count for status, count, _ in rows}
    if first_sent is not None and first_sent.tzinfo is None:
        first_sent = first_sent.replace(tzinfo=UTC)
    return RunProgress(
        planned=sum(by_status.values()),
        sent=sum(count for status, count in by_status.items() if status in _SENT),
        completed=by_status.get(SessionStatus.COMPLETED, 0),
        failed=by_status.get(SessionStatus.FAILED, 0) + by_status.get(SessionStatus.REJECTED, 0),
        verified=sum(verified for _, _, verified in rows),
        first_sent_at=first_sent,
    )


class JobsWait(BaseModel):
    """While the run waits for its jobs: how many of its sent sessions the Data API has processed.
    The ledger learns each session's outcome only after the wait, so the wait counts by job."""

    planned: int
    job_sessions: dict[str, int]  # job reference -> sessions it carries
    finished_jobs: list[str] = []

    @property
    def sent(self) -> int:
        return sum(self.job_sessions.values())

    @property
    def processed(self) -> int:
        return sum(self.job_sessions.get(ref, 0) for ref in set(self.finished_jobs))

    def line(self, rate: float | None) -> str:
        """`rate`: sessions processed per second while waiting (None before it can be told)."""
        if not self.job_sessions:
            return "run progress: nothing to send"
        left = self.sent - self.processed
        if left == 0:
            when = "every job finished"
        elif rate:
            when = f"{rate:.1f} sessions/s, about {_duration(left / rate)} left"
        else:
            when = "time left not known until a job finishes"
        return (
            f"run progress: {self.planned} sessions planned, {self.sent} sent;"
            f" {len(set(self.finished_jobs))} of {len(self.job_sessions)} jobs finished,"
            f" {self.processed} sessions processed ({100 * self.processed // self.sent}%); {when}"
        )
