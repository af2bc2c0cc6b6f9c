"""What a run report holds: rows of counts per group (an activity, or the failed-submission
corpus), quarantine reasons and failures, built from the ledger the same way for both pipelines.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import quote

from pydantic import BaseModel, Field

from learnosity_core.delivery.ledger import SessionRow, SessionStatus

# The delivery history of one session, on the Airflow plugin's lookup page (host-relative: the
# report is served by the same api-server).
LOOKUP_PATH = "/learnosity/lookup"


def lookup_url(session_id: str) -> str:
    return f"{LOOKUP_PATH}?session={quote(session_id, safe='')}"


class ReportGroup(BaseModel):
    name: str
    counts: dict[str, int]


Tone = Literal["good", "neutral", "warn", "bad"]


class Segment(BaseModel):
    label: str
    value: int
    tone: Tone = "neutral"


class Bar(BaseModel):
    label: str
    value: int
    tone: Tone = "neutral"
    note: str | None = None  # e.g. "120 staged, 3 quarantined"
    segments: list[Segment] = Field(default_factory=list)  # a stacked bar's parts, adding up to value


class Chart(BaseModel):
    """One labelled bar chart in one unit (rows, sessions, files): never two units on one axis."""

    title: str
    axis: str  # what the bars are, e.g. "outcome", "reason", "activity"
    unit: str  # what they count: rows, sessions, files
    bars: list[Bar]
    empty: str = "Nothing to report."  # shown instead of bars that are all zero

    @property
    def peak(self) -> int:
        return max([b.value for b in self.bars] + [0])


class Clause(BaseModel):
    """A part of the report's summary sentence, optionally pointing at the section that lists it."""

    text: str
    anchor: str | None = None  # id of the section, e.g. "quarantine"

    def plain(self) -> str:
        return f"{self.text}: see the list" if self.anchor else self.text


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    return f"{count:,} {noun if count == 1 else nouns or noun + 's'}"


def not_delivered(failed: int, rejected: int) -> list[Clause]:
    """The summary sentence's clause for sessions sent but not delivered, pointing at their list:
    "2 sessions failed and 1 was rejected by Learnosity", or the half that applies."""
    parts = [f"{plural(failed, 'session')} failed"] if failed else []
    if rejected:
        verb = "was" if rejected == 1 else "were"
        who = f"{rejected:,}" if failed else plural(rejected, "session")
        parts.append(f"{who} {verb} rejected by Learnosity")
    return [Clause(text=" and ".join(parts), anchor="failures")] if parts else []


class Failure(BaseModel):
    """A session sent but not delivered (failed or rejected), as the report lists it."""

    session_id: str
    label: str  # how the report names it: the session id, or a file (and its session)
    error: str
    status: Literal["failed", "rejected"] = "failed"

    @property
    def history(self) -> str:
        return lookup_url(self.session_id)


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
    data_format: str = "from_template"  # which table explains its reason codes (reporting.reasons)
    headline: list[Clause] = Field(default_factory=list)  # the summary sentence, in parts
    charts: list[Chart] = Field(default_factory=list)
    failures: list[Failure] = Field(default_factory=list)
    held_back: list[tuple[str, str]] = Field(default_factory=list)  # (group, why and what to do)
    # How the run's rows (or files) add up, e.g. "120 rows read = 100 staged + 20 quarantined".
    balance: str | None = None
    # Why the run is not green besides failed sessions (held-back share over its limit, ...).
    problems: list[str] = Field(default_factory=list)
    per_file: list[tuple[str, str]] = Field(default_factory=list)  # (file or row, what became of it and why)
    quarantine_csv: str | None = None
    left_in_place: list[tuple[str, str]] = Field(default_factory=list)  # (entry, why it was not taken)
    notes: list[str] = Field(default_factory=list)  # e.g. where learner data lives and for how long
    ignore_response_revisions: bool | None = None  # None: the run did not say
    generated_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def refused(self, why: str) -> None:
        """A reviewer refused the run (or never answered): that comes first, in the sentence and
        in why the run is not green."""
        self.problems.insert(0, why)
        self.headline.insert(0, Clause(text=why[0].upper() + why[1:]))

    def sentence(self) -> str:
        """The summary sentence, as plain text (summary.txt's first line)."""
        return "; ".join(c.plain() for c in self.headline) + "." if self.headline else "Nothing to report."

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


class SessionTally(BaseModel):
    """What a run's sessions came to, in one pass over them (a run's sessions need not fit in
    memory): per group the sessions submitted, completed, rejected, failed and verified; the
    first `limit` not delivered, with why; how many are neither delivered, rejected nor held back."""

    outcomes: dict[str, Counter[str]] = Field(default_factory=dict)
    failures: list[Failure] = Field(default_factory=list)
    undelivered: int = 0


def tally_sessions(
    sessions: Iterable[SessionRow], key: str = "activity_id", limit: int = 200, refused: str | None = None
) -> SessionTally:
    """Count the sessions per group (`activity_id` or `data_format`) and list the first `limit`
    failed or rejected (the report links each to its delivery history). When a reviewer `refused`
    the run, that is why its staged sessions were never sent, not a failed submit task."""
    given_up = (SessionStatus.FAILED, SessionStatus.REJECTED)
    unsettled = dict(UNSETTLED)
    if refused:
        unsettled[SessionStatus.STAGED] = f"not sent: {refused}"
    tally = SessionTally()
    for row in sessions:
        c = tally.outcomes.setdefault(str(getattr(row, key) or "-"), Counter())
        if row.status == SessionStatus.QUARANTINED:
            continue
        if row.job_reference:
            c["submitted"] += 1
        if row.verified:
            c["verified"] += 1
        if row.status == SessionStatus.COMPLETED:
            c["completed"] += 1
            continue
        if row.status == SessionStatus.REJECTED:
            c["rejected"] += 1
        elif row.status == SessionStatus.FAILED or row.status in UNSETTLED:
            c["failed"] += 1
            tally.undelivered += 1
        if len(tally.failures) < limit and (row.status in given_up or row.status in unsettled):
            tally.failures.append(
                Failure(
                    session_id=row.session_id,
                    label=row.session_id,
                    error=(row.error or row.status.value)
                    if row.status in given_up
                    else unsettled[row.status],
                    status="rejected" if row.status == SessionStatus.REJECTED else "failed",
                )
            )
    return tally


def outcome_counts(sessions: Iterable[SessionRow], key: str = "activity_id") -> dict[str, Counter[str]]:
    """Per group (`activity_id` or `data_format`): sessions submitted, completed, failed and verified."""
    return tally_sessions(sessions, key).outcomes


def failures(sessions: Iterable[SessionRow], limit: int = 200, refused: str | None = None) -> list[Failure]:
    """The first `limit` sessions not delivered (failed or rejected), with the reason."""
    return tally_sessions(sessions, limit=limit, refused=refused).failures


def revisions_note(ignore: bool | None, data_format: str) -> str:
    """What `ignore_response_revisions` meant for this run, in the Data API documentation's words
    plus the one reading the docs leave to us (marked as such)."""
    documented = (
        'The Data API documents it as "Controls whether to ignore the revision value inside a recorded'
        ' response", default false.'
    )
    if ignore is None:
        return f"This run did not record whether ignore_response_revisions was set. {documented}"
    if ignore:
        return (
            "ignore_response_revisions was ON for this run: Learnosity was asked to ignore the revision"
            f" value inside the recorded responses. {documented} Our reading, which the docs do not spell"
            " out: what this run sent is stored even where Learnosity held a newer revision."
        )
    kept = (
        "a blob saved before later successful saves cannot overwrite the newer responses"
        if data_format == "failed_submission"
        else "the uploader sends template responses without a revision, so the flag matters mostly for"
        " failed-submission blobs"
    )
    return (
        "ignore_response_revisions was off for this run (the default): Learnosity compares the revision"
        f" value inside each recorded response with what it holds. {documented} Our reading, which the docs"
        f" do not spell out: Learnosity keeps a stored response with a newer revision; {kept}."
    )


def merge_counts(groups: Sequence[Mapping[str, int]]) -> dict[str, int]:
    """Counts by code (quarantine reasons, warnings) summed over groups."""
    merged: Counter[str] = Counter()
    for reasons in groups:
        merged.update(reasons)
    return dict(merged)
