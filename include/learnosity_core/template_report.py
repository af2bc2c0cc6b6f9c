"""The template-submission run report: per activity, rows to sessions to verified outcomes."""

from __future__ import annotations

from collections import Counter
from typing import Any

from learnosity_core.report import ReportGroup, RunReport, failures, merge_reasons, outcome_counts
from learnosity_core.template_plan import PlanSummary

TEMPLATE_COLUMNS = [
    "rows",
    "rows_quarantined",
    "sessions_staged",
    "already_delivered",
    "submitted",
    "completed",
    "failed",
    "verified",
]


def build_template_report(dag_id: str, plan: PlanSummary, sessions: list[dict[str, Any]]) -> RunReport:
    outcomes = outcome_counts(sessions)
    groups = []
    for activity_id, c in sorted(plan.activities.items()):
        o = outcomes.get(activity_id, Counter())
        groups.append(
            ReportGroup(
                name=activity_id,
                counts={
                    "rows": c.rows,
                    "rows_quarantined": c.rows_quarantined,
                    "sessions_staged": c.sessions_staged,
                    "already_delivered": c.sessions_already_delivered,
                    "submitted": o.get("submitted", 0),
                    "completed": o.get("completed", 0),
                    "failed": o.get("failed", 0),
                    "verified": o.get("verified", 0),
                },
            )
        )
    window = f"{plan.window_start or 'beginning'} to {plan.window_end}" if plan.window_end else None
    return RunReport(
        title="Learnosity template submission",
        dag_id=dag_id,
        run_id=plan.run_id,
        dry_run=plan.dry_run,
        window=window,
        columns=TEMPLATE_COLUMNS,
        groups=groups,
        reasons=merge_reasons([c.quarantined_by_reason for c in plan.activities.values()]),
        failures=failures(sessions),
        quarantine_csv=plan.quarantine_csv,
    )
