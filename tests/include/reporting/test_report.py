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
        _row("4", "b", "staged"),
    ]
    counts = outcome_counts(rows)
    assert counts["a"] == {"submitted": 2, "completed": 1, "failed": 1, "verified": 1}
    assert counts["b"] == {}
    assert failures(rows) == [("2", "halted")]
