"""The template-submission run report: per activity, rows to sessions to verified outcomes."""

from __future__ import annotations

from collections import Counter

from learnosity_core.delivery.ledger import Ledger, SessionRow, SessionStatus
from learnosity_core.delivery.staging import StoragePath, read_plan_summary, write_private_text
from learnosity_core.reporting.render import write_report
from learnosity_core.reporting.report import (
    PublishedReport,
    ReportGroup,
    RunReport,
    failures,
    merge_counts,
    outcome_counts,
)
from learnosity_core.template_submission.plan import QUARANTINE_FILE, PlanSummary

TEMPLATE_COLUMNS = [
    "rows",
    "rows_held_back",
    "rows_quarantined",
    "sessions_staged",
    "already_delivered",
    "submitted",
    "completed",
    "failed",
    "verified",
]


def build_template_report(dag_id: str, plan: PlanSummary, sessions: list[SessionRow]) -> RunReport:
    outcomes = outcome_counts(sessions)
    groups = []
    for activity_id, c in sorted(plan.activities.items()):
        o = outcomes.get(activity_id, Counter())
        groups.append(
            ReportGroup(
                name=activity_id,
                counts={
                    "rows": c.rows,
                    "rows_held_back": c.rows_held_back,
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
        reasons=merge_counts([c.quarantined_by_reason for c in plan.activities.values()]),
        warnings=merge_counts([c.warnings_by_code for c in plan.activities.values()]),
        failures=failures(sessions),
        held_back=[(a, c.held_back) for a, c in sorted(plan.activities.items()) if c.held_back],
        quarantine_csv=plan.quarantine_csv,
    )


def publish_template_report(
    ledger: Ledger, stage: StoragePath, out: StoragePath, dag_id: str, run_id: str
) -> PublishedReport:
    """Write the run's report and quarantine CSV to `out`; mark the window delivered only when it
    was a real, unfiltered run (`PlanSummary.advances_window`) whose every sent session completed
    and no activity was held back, so failed or unsent sessions (a submit task or the job wait
    that failed) and held-back activities fall in the next window."""
    plan = read_plan_summary(stage, PlanSummary)
    sessions = ledger.sessions_of_run(run_id)
    report = build_template_report(dag_id, plan, sessions)
    if plan.quarantine_csv:
        write_private_text(out / QUARANTINE_FILE, (stage / QUARANTINE_FILE).read_text(encoding="utf-8"))
        report.quarantine_csv = QUARANTINE_FILE
    path = write_report(report, out)
    settled = {SessionStatus.COMPLETED, SessionStatus.QUARANTINED}
    delivered = all(row.status in settled for row in sessions) and not report.held_back
    if plan.advances_window and not plan.dry_run and delivered:
        ledger.finish_run(dag_id, run_id)
    return PublishedReport(report=path, totals=report.totals(), failed=report.failed)
