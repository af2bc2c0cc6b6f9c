"""Review before sending: when a plan waits for a person, what they read, what a refusal says."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from learnosity_core.delivery.review import (
    MAX_REASONS_SHOWN,
    ActivityFigures,
    PlanFigures,
    ReviewAnswer,
    ReviewDecision,
    ReviewThresholds,
    decide_review,
    record_refusal,
    refusal,
    report_url,
    review_request,
)

DEFAULTS = ReviewThresholds()


def _figures(
    sessions: int = 100, read: int = 1000, quarantined: int = 10, dry_run: bool = False
) -> PlanFigures:
    return PlanFigures(
        dry_run=dry_run,
        activities={"algebra": ActivityFigures(read=read, quarantined=quarantined, sessions=sessions)},
        quarantined_by_reason={"invalid_value": quarantined} if quarantined else {},
    )


def test_the_defaults_are_a_backfill_and_a_broken_template() -> None:
    assert DEFAULTS.approval_above_sessions == 100_000 and DEFAULTS.approval_above_quarantine_share == 0.05


def test_a_normal_night_is_approved_without_asking_and_says_why() -> None:
    decision = decide_review(_figures(), DEFAULTS, requested=False)
    assert decision == ReviewDecision(
        needed=False, reason="100 sessions and 1.0% quarantined are within the approval thresholds"
    )


@pytest.mark.parametrize(
    ("figures", "reason"),
    [
        (_figures(sessions=100_001, read=100_001, quarantined=0), "100,001 sessions to send, above"),
        (_figures(quarantined=51), "5.1% of the 1,000 rows read were quarantined or held back, above"),
    ],
    ids=["backfill", "quarantine"],
)
def test_a_plan_past_a_threshold_waits(figures: PlanFigures, reason: str) -> None:
    decision = decide_review(figures, DEFAULTS, requested=False)
    assert decision.needed and decision.reason.startswith(reason)


def test_exactly_at_a_threshold_does_not_wait() -> None:
    at_both = _figures(sessions=100_000, read=1000, quarantined=50)
    assert not decide_review(at_both, DEFAULTS, requested=False).needed


def test_asking_for_approval_waits_and_names_every_reason() -> None:
    decision = decide_review(_figures(quarantined=500), DEFAULTS, requested=True)
    assert decision.needed
    assert decision.reason.startswith("require_approval is on; 50.0% of the 1,000 rows read")


@pytest.mark.parametrize(
    ("figures", "reason"),
    [
        (_figures(quarantined=900, dry_run=True), "a dry run sends nothing"),
        (_figures(sessions=0, quarantined=1000), "nothing to send"),
    ],
    ids=["dry-run", "nothing-to-send"],
)
def test_a_plan_that_sends_nothing_never_waits(figures: PlanFigures, reason: str) -> None:
    assert decide_review(figures, DEFAULTS, requested=True) == ReviewDecision(needed=False, reason=reason)


def test_thresholds_are_checked() -> None:
    with pytest.raises(ValidationError):
        ReviewThresholds(approval_above_quarantine_share=1.5)
    with pytest.raises(ValidationError):
        ReviewThresholds(approval_above_sessions=-1)


def test_the_request_shows_counts_per_activity_reasons_and_the_report_link() -> None:
    figures = PlanFigures(
        activities={
            "biology": ActivityFigures(read=50, quarantined=20, sessions=7),
            "algebra": ActivityFigures(read=1200, quarantined=3, sessions=300),
        },
        quarantined_by_reason={"unknown_question": 3, "invalid_value": 20},
    )
    decision = decide_review(figures, DEFAULTS, requested=False)
    link = report_url("https://airflow.district.example/", "dag", "manual__2026-12-02T02:00:00+00:00")
    subject, body = review_request(figures, decision, link)

    assert subject == "Send 307 sessions to Learnosity?"
    assert f"**Why this run waits:** {decision.reason}." in body
    assert "**Sessions to send:** 307 (1,250 rows read, 23 quarantined or held back)." in body
    assert body.index("| algebra | 1,200 | 3 | 300 |") < body.index("| biology | 50 | 20 | 7 |")
    assert body.index("| invalid_value | 20 |") < body.index("| unknown_question | 3 |"), "most first"
    assert link == (
        "https://airflow.district.example/learnosity/runs/dag/manual__2026-12-02T02%3A00%3A00%2B00%3A00/report"
    )
    assert f"[{link}]({link})" in body


def test_a_long_tail_of_reasons_is_cut_and_counted() -> None:
    reasons = {f"reason_{n:02}": 100 - n for n in range(MAX_REASONS_SHOWN + 5)}
    figures = _figures(quarantined=900)
    figures.quarantined_by_reason = reasons
    _, body = review_request(figures, decide_review(figures, DEFAULTS, True), None)
    assert f"| reason_{MAX_REASONS_SHOWN - 1:02} |" in body
    assert f"| reason_{MAX_REASONS_SHOWN:02} |" not in body
    assert "| ... 5 more | |" in body
    assert "The run's report" not in body, "no link when none is known"


def test_a_refusal_is_kept_for_the_report(tmp_path: Path) -> None:
    at = datetime(2026, 12, 2, 18, 30, tzinfo=UTC)
    assert refusal(tmp_path) is None, "an approved or unreviewed run has nothing to say"

    record_refusal(tmp_path, ReviewAnswer(rejected_by="ana", at=at))
    assert refusal(tmp_path) == "rejected by ana at 2026-12-02T18:30:00+00:00: nothing sent"

    record_refusal(tmp_path, ReviewAnswer(at=at, timeout="12 h (LEARNOSITY_APPROVAL_TIMEOUT_H)"))
    assert refusal(tmp_path) == (
        "no approval within 12 h (LEARNOSITY_APPROVAL_TIMEOUT_H), timed out at 2026-12-02T18:30:00+00:00:"
        " nothing sent"
    )


def test_what_went_while_planning_is_told_to_the_approver_and_in_a_refusal(tmp_path: Path) -> None:
    figures = PlanFigures(
        activities={"act-a": ActivityFigures(read=1000, quarantined=100, sessions=90)}, sent_while_planning=40
    )
    _, body = review_request(figures, decide_review(figures, DEFAULTS, False), None)
    assert "**Already sent:** 40 of them went while planning" in body
    _, quiet = review_request(
        figures.model_copy(update={"sent_while_planning": 0}), decide_review(figures, DEFAULTS, False), None
    )
    assert "Already sent" not in quiet

    at = datetime(2026, 12, 2, 18, 30, tzinfo=UTC)
    record_refusal(tmp_path, ReviewAnswer(rejected_by="ana", at=at, sent_before=40))
    assert refusal(tmp_path) == (
        "rejected by ana at 2026-12-02T18:30:00+00:00: nothing more sent (40 sessions went while planning)"
    )
