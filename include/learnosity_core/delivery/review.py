"""Review before sending: whether a planned run waits for a person's approval, what that person
reads, and what their answer (or the lack of one) means for the report.

A run waits when it was asked to, or when the plan looks unlike a normal night: more sessions
than a backfill threshold, or a quarantined share that suggests a broken template or source.
A dry run, or a plan with nothing to send, never waits: there is nothing to approve.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from pydantic import BaseModel, Field

from learnosity_core.delivery.staging import StoragePath, write_private_text

REVIEW_FILE = "review.json"
DEFAULT_ABOVE_SESSIONS = 100_000
DEFAULT_ABOVE_QUARANTINE_SHARE = 0.05
MAX_REASONS_SHOWN = 20


class ActivityFigures(BaseModel):
    """One group of a plan (an activity, or the failed-submission corpus) as the approver sees it."""

    read: int = 0  # rows (template) or blobs (replay) read
    quarantined: int = 0  # of those, set aside as invalid or held back
    sessions: int = 0  # sessions staged to send


class PlanFigures(BaseModel):
    """What a plan decided, in the few numbers a review needs."""

    dry_run: bool = False
    unit: str = "rows"  # what `read` counts: rows of the warehouse, or blobs
    activities: dict[str, ActivityFigures] = Field(default_factory=dict)
    quarantined_by_reason: dict[str, int] = Field(default_factory=dict)
    # Sessions sent while planning, before a threshold was passed (`streaming`): not the review's to stop.
    sent_while_planning: int = 0

    @property
    def sessions(self) -> int:
        return sum(a.sessions for a in self.activities.values())

    @property
    def read(self) -> int:
        return sum(a.read for a in self.activities.values())

    @property
    def quarantined(self) -> int:
        return sum(a.quarantined for a in self.activities.values())

    @property
    def quarantine_share(self) -> float:
        return self.quarantined / self.read if self.read else 0.0


class ReviewThresholds(BaseModel):
    """Above either of these a plan waits for approval even when no one asked for it."""

    # Named as the trigger form's params, so that a bad value is reported under its param's name.
    approval_above_sessions: int = Field(default=DEFAULT_ABOVE_SESSIONS, ge=0)
    approval_above_quarantine_share: float = Field(default=DEFAULT_ABOVE_QUARANTINE_SHARE, ge=0, le=1)


class ReviewDecision(BaseModel):
    needed: bool
    reason: str


def decide_review(figures: PlanFigures, thresholds: ReviewThresholds, requested: bool) -> ReviewDecision:
    """Whether this plan waits for a person, and why (the reason is logged and shown to them)."""
    if figures.dry_run:
        return ReviewDecision(needed=False, reason="a dry run sends nothing")
    if not figures.sessions:
        return ReviewDecision(needed=False, reason="nothing to send")
    reasons = []
    if requested:
        reasons.append("require_approval is on")
    if figures.sessions > thresholds.approval_above_sessions:
        reasons.append(
            f"{figures.sessions:,} sessions to send, above approval_above_sessions"
            f" {thresholds.approval_above_sessions:,}"
        )
    share_limit = thresholds.approval_above_quarantine_share
    if figures.quarantine_share > share_limit:
        reasons.append(
            f"{figures.quarantine_share:.1%} of the {figures.read:,} {figures.unit} read were quarantined"
            f" or held back, above approval_above_quarantine_share {share_limit:.1%}"
        )
    if reasons:
        return ReviewDecision(needed=True, reason="; ".join(reasons))
    return ReviewDecision(
        needed=False,
        reason=f"{figures.sessions:,} sessions and {figures.quarantine_share:.1%} quarantined are within"
        " the approval thresholds",
    )


def report_url(api_base_url: str, dag_id: str, run_id: str) -> str:
    """Where the run's report is served by the Airflow API server (plugin page)."""
    run = f"{quote(dag_id, safe='')}/{quote(run_id, safe='')}"
    return f"{api_base_url.rstrip('/')}/learnosity/runs/{run}/report"


def review_request(figures: PlanFigures, decision: ReviewDecision, report: str | None) -> tuple[str, str]:
    """Subject and markdown body of the approval request: what would be sent and what was held back."""
    subject = f"Send {figures.sessions:,} sessions to Learnosity?"
    lines = [
        f"**Why this run waits:** {decision.reason}.",
        "",
        f"**Sessions to send:** {figures.sessions:,} ({figures.read:,} {figures.unit} read,"
        f" {figures.quarantined:,} quarantined or held back).",
        "",
    ]
    if figures.sent_while_planning:
        lines += [
            f"**Already sent:** {figures.sent_while_planning:,} of them went while planning, before the"
            " plan passed a threshold; the rest waits for this answer.",
            "",
        ]
    lines += [
        f"| activity | {figures.unit} read | quarantined or held back | sessions to send |",
        "|---|---:|---:|---:|",
    ]
    for name, a in sorted(figures.activities.items()):
        lines.append(f"| {name} | {a.read:,} | {a.quarantined:,} | {a.sessions:,} |")
    if figures.quarantined_by_reason:
        lines += ["", "**Quarantine reasons:**", "", "| reason | count |", "|---|---:|"]
        ranked = sorted(figures.quarantined_by_reason.items(), key=lambda kv: (-kv[1], kv[0]))
        for reason, count in ranked[:MAX_REASONS_SHOWN]:
            lines.append(f"| {reason} | {count:,} |")
        if len(ranked) > MAX_REASONS_SHOWN:
            lines.append(f"| ... {len(ranked) - MAX_REASONS_SHOWN} more | |")
    lines += [
        "",
        "**Approve** sends these sessions. **Reject** sends nothing: the run ends not green, the"
        " window does not move and the next run plans them again.",
    ]
    if report:
        lines += ["", f"The run's report, once written: [{report}]({report})"]
    return subject, "\n".join(lines)


class ReviewAnswer(BaseModel):
    """A refusal to send, kept in the run's stage folder so that the report can say why nothing went."""

    rejected_by: str | None = None  # None: no answer before the approval timed out
    at: datetime
    timeout: str | None = None  # e.g. "12 h (LEARNOSITY_APPROVAL_TIMEOUT_H)", when it timed out
    sent_before: int = 0  # sessions sent while planning, before the plan passed a threshold

    def statement(self) -> str:
        when = self.at.isoformat(timespec="seconds")
        held = (
            f"nothing more sent ({self.sent_before:,} sessions went while planning)"
            if self.sent_before
            else "nothing sent"
        )
        if self.rejected_by is None:
            waited = f" within {self.timeout}" if self.timeout else ""
            return f"no approval{waited}, timed out at {when}: {held}"
        return f"rejected by {self.rejected_by} at {when}: {held}"


def record_refusal(stage: StoragePath, answer: ReviewAnswer) -> None:
    write_private_text(stage / REVIEW_FILE, answer.model_dump_json())


def refusal(stage: StoragePath) -> str | None:
    """The report's statement when the run was refused (rejected, or no answer in time), else None."""
    path = stage / REVIEW_FILE
    if not path.exists():
        return None
    return ReviewAnswer.model_validate_json(path.read_text(encoding="utf-8")).statement()
