"""The failed-submission replay report: blobs found, invalid by reason, duplicates, outcomes."""

from __future__ import annotations

from collections import Counter
from typing import Any

from learnosity_core.replay_plan import ReplaySummary
from learnosity_core.report import ReportGroup, RunReport, failures, outcome_counts

REPLAY_COLUMNS = ["found", "invalid", "duplicates", "already_delivered", "submitted", "completed", "failed"]


def build_replay_report(dag_id: str, summary: ReplaySummary, sessions: list[dict[str, Any]]) -> RunReport:
    outcomes: Counter[str] = outcome_counts(sessions, key="data_format").get("failed_submission", Counter())
    counts = {
        "found": summary.found,
        "invalid": sum(summary.invalid_by_reason.values()),
        "duplicates": summary.duplicates,
        "already_delivered": summary.already_delivered,
        "submitted": outcomes.get("submitted", 0),
        "completed": outcomes.get("completed", 0),
        "failed": outcomes.get("failed", 0),
    }
    return RunReport(
        title="Learnosity failed-submission replay",
        dag_id=dag_id,
        run_id=summary.run_id,
        dry_run=summary.dry_run,
        window=f"landing location {summary.landing}" if summary.landing else None,
        columns=REPLAY_COLUMNS,
        groups=[ReportGroup(name="failed submissions", counts=counts)],
        reasons=summary.invalid_by_reason,
        failures=failures(sessions),
    )
