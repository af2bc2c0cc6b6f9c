"""Report counts come from ledger rows the same way for both pipelines."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from learnosity_core.delivery.ledger import SessionRow
from learnosity_core.reporting.report import failures, outcome_counts


def _row(session_id: str, activity_id: str, status: str, **fields: Any) -> SessionRow:
    now = datetime.now(UTC)
    return SessionRow(
        session_id=session_id,
        data_format="from_template",
        activity_id=activity_id,
        status=status,
        created_at=now,
        updated_at=now,
        **fields,
    )


def test_outcomes_come_from_ledger_rows() -> None:
    rows = [
        _row("1", "a", "completed", job_reference="j", verified=True),
        _row("2", "a", "failed", job_reference="j", error="halted"),
        _row("3", "a", "quarantined"),
    ]
    counts = outcome_counts(rows)
    assert counts["a"] == {"submitted": 2, "completed": 1, "failed": 1, "verified": 1}
    assert [(f.session_id, f.error, f.status) for f in failures(rows)] == [("2", "halted", "failed")]


def test_sessions_left_unsent_or_unrecorded_count_as_failed_with_the_reason() -> None:
    rows = [
        _row("4", "b", "staged"),
        _row("5", "b", "submitted", job_reference="j2"),
        _row("6", "b", "completed", job_reference="j3"),
    ]
    assert outcome_counts(rows)["b"] == {"submitted": 2, "failed": 2, "completed": 1}
    assert [(f.session_id, f.error) for f in failures(rows)] == [
        ("4", "staged but never submitted (its submit task failed)"),
        ("5", "submitted, but its job's outcome was never recorded (the wait failed)"),
    ]


def test_rejected_sessions_are_listed_as_rejected_with_a_link_to_their_history() -> None:
    (failure,) = failures([_row("7/x", "c", "rejected", job_reference="j", error="refused")])
    assert (failure.status, failure.error) == ("rejected", "refused")
    assert failure.history == "/learnosity/lookup?session=7%2Fx"
