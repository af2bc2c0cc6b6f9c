"""What a run report holds: rows of counts per group (an activity, or the failed-submission
corpus), quarantine reasons and failures, built from the ledger the same way for both pipelines.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

from pydantic import BaseModel, Field

from learnosity_core.delivery.ledger import SessionRow, SessionStatus


class ReportGroup(BaseModel):
    name: str
    counts: dict[str, int]


class RunReport(BaseModel):
    title: str
    dag_id: str
    run_id: str
    dry_run: bool = False
    window: str | None = None
    columns: list[str]
    groups: list[ReportGroup]
    reasons: dict[str, int] = Field(default_factory=dict)
    warnings: dict[str, int] = Field(default_factory=dict)  # responses sent as written, by code
    failures: list[tuple[str, str]] = Field(default_factory=list)
    held_back: list[tuple[str, str]] = Field(default_factory=list)  # (group, why and what to do)
    # How the run's rows (or files) add up, e.g. "120 rows read = 100 staged + 20 quarantined".
    balance: str | None = None
    # Why the run is not green besides failed sessions (held-back share over its limit, ...).
    problems: list[str] = Field(default_factory=list)
    per_file: list[tuple[str, str]] = Field(default_factory=list)  # (file or row, what became of it and why)
    quarantine_csv: str | None = None
    left_in_place: list[tuple[str, str]] = Field(default_factory=list)  # (entry, why it was not taken)
    notes: list[str] = Field(default_factory=list)  # e.g. where learner data lives and for how long
    generated_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def totals(self) -> dict[str, int]:
        totals: Counter[str] = Counter()
        for group in self.groups:
            totals.update(group.counts)
        return {c: totals.get(c, 0) for c in self.columns}

    @property
    def failed(self) -> int:
        return self.totals().get("failed", 0)

    @property
    def rejected(self) -> int:
        return self.totals().get("rejected", 0)

    def published(self, path: str) -> PublishedReport:
        return PublishedReport(
            report=path,
            totals=self.totals(),
            failed=self.failed,
            rejected=self.rejected,
            problems=self.problems,
        )


class PublishedReport(BaseModel):
    """Where a run's report was written and its totals (what the report task returns)."""

    report: str
    totals: dict[str, int]
    failed: int
    rejected: int = 0
    problems: list[str] = Field(default_factory=list)

    @property
    def delivered_everything(self) -> bool:
        """Green: no session failed or was rejected, and nothing else went wrong."""
        return not (self.failed or self.rejected or self.problems)


# Sessions still in these states when the report runs were never delivered: a submit task or the
# job wait failed. They count as failed, so the run is not green and its window stays open.
UNSETTLED: dict[SessionStatus, str] = {
    SessionStatus.STAGED: "staged but never submitted (its submit task failed)",
    SessionStatus.SUBMITTED: "submitted, but its job's outcome was never recorded (the wait failed)",
}


def outcome_counts(sessions: Iterable[SessionRow], key: str = "activity_id") -> dict[str, Counter[str]]:
    """Per group (`activity_id` or `data_format`): sessions submitted, completed, failed and verified."""
    counts: dict[str, Counter[str]] = {}
    for row in sessions:
        c = counts.setdefault(str(getattr(row, key) or "-"), Counter())
        if row.status == SessionStatus.QUARANTINED:
            continue
        if row.job_reference:
            c["submitted"] += 1
        if row.status == SessionStatus.COMPLETED:
            c["completed"] += 1
        elif row.status == SessionStatus.REJECTED:
            c["rejected"] += 1
        elif row.status == SessionStatus.FAILED or row.status in UNSETTLED:
            c["failed"] += 1
        if row.verified:
            c["verified"] += 1
    return counts


def failures(sessions: Iterable[SessionRow], limit: int = 200) -> list[tuple[str, str]]:
    """The first `limit` sessions not delivered (failed or rejected), with the reason (the report
    lists them by session id)."""
    given_up = (SessionStatus.FAILED, SessionStatus.REJECTED)
    rows = [
        (r.session_id, (r.error or r.status.value) if r.status in given_up else UNSETTLED[r.status])
        for r in sessions
        if r.status in given_up or r.status in UNSETTLED
    ]
    return rows[:limit]


def merge_counts(groups: Sequence[Mapping[str, int]]) -> dict[str, int]:
    """Counts by code (quarantine reasons, warnings) summed over groups."""
    merged: Counter[str] = Counter()
    for reasons in groups:
        merged.update(reasons)
    return dict(merged)
