"""The template-submission run report: per activity, rows to sessions to verified outcomes."""

from __future__ import annotations

from collections import Counter

from learnosity_core.delivery.ledger import Ledger, SessionRow, SessionStatus
from learnosity_core.delivery.review import refusal
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
    "rows_staged",
    "rows_skipped",
    "rows_quarantined",
    "rows_held_back",
    "sessions_staged",
    "corrections",
    "already_delivered",
    "already_rejected",
    "submitted",
    "completed",
    "rejected",
    "failed",
    "verified",
]
# Above this share of rows quarantined or held back, a run fails (after its report): a template
# that no longer matches, or an export gone wrong, should not look like a quiet night.
DEFAULT_MAX_QUARANTINE_SHARE = 0.2


def row_balance(plan: PlanSummary) -> str:
    """How the rows read add up; any difference is named (it would be a bug)."""
    c = plan.activities.values()
    read, staged, skipped = (sum(getattr(a, f) for a in c) for f in ("rows", "rows_staged", "rows_skipped"))
    quarantined, held = (sum(getattr(a, f) for a in c) for f in ("rows_quarantined", "rows_held_back"))
    verb = "would be staged" if plan.dry_run else "staged"
    line = (
        f"{read} rows read = {staged} {verb} + {skipped} skipped (their sessions' same content was"
        f" delivered or rejected before) + {quarantined} quarantined + {held} held back"
    )
    missing = sum(a.unaccounted for a in c)
    if missing:
        line += f"; {missing} rows are unaccounted for"
    if plan.reconcile:
        staged, corrected = (sum(getattr(a, f) for a in c) for f in ("sessions_staged", "sessions_corrected"))
        in_place = sum(a.sessions_already_delivered for a in c)
        line += (
            f". Reconcile since {plan.window_start}: {staged - corrected} sessions missing in Learnosity,"
            f" {corrected} changed since delivered, {in_place} already in place"
        )
    return line


def _share_problem(plan: PlanSummary, limit: float) -> str | None:
    """Too many rows quarantined or held back, naming the activities and reasons that dominate."""
    read = sum(c.rows for c in plan.activities.values())
    bad = {a: c.rows_quarantined + c.rows_held_back for a, c in plan.activities.items()}
    if not read or sum(bad.values()) / read <= limit:
        return None
    worst = sorted((a for a in bad if bad[a]), key=lambda a: -bad[a])[:3]
    details = []
    for activity in worst:
        c = plan.activities[activity]
        top = sorted(c.quarantined_by_reason.items(), key=lambda kv: -kv[1])[:3]
        why = ", ".join(f"{reason} {count}" for reason, count in top)
        if c.rows_held_back:
            why = ", ".join(filter(None, [why, f"held back {c.rows_held_back}"]))
        details.append(f"{activity} ({bad[activity]} of {c.rows} rows: {why})")
    return (
        f"{sum(bad.values()) / read:.0%} of the {read} rows read were quarantined or held back, above"
        f" max_quarantine_share {limit:.0%}: mostly {'; '.join(details)}"
    )


def build_template_report(
    dag_id: str,
    plan: PlanSummary,
    sessions: list[SessionRow],
    max_quarantine_share: float = DEFAULT_MAX_QUARANTINE_SHARE,
) -> RunReport:
    outcomes = outcome_counts(sessions)
    groups = []
    for activity_id, c in sorted(plan.activities.items()):
        o = outcomes.get(activity_id, Counter())
        groups.append(
            ReportGroup(
                name=activity_id,
                counts={
                    "rows": c.rows,
                    "rows_staged": c.rows_staged,
                    "rows_skipped": c.rows_skipped,
                    "rows_quarantined": c.rows_quarantined,
                    "rows_held_back": c.rows_held_back,
                    "sessions_staged": c.sessions_staged,
                    "corrections": c.sessions_corrected,
                    "already_delivered": c.sessions_already_delivered,
                    "already_rejected": c.sessions_already_rejected,
                    "submitted": o.get("submitted", 0),
                    "completed": o.get("completed", 0),
                    "rejected": o.get("rejected", 0),
                    "failed": o.get("failed", 0),
                    "verified": o.get("verified", 0),
                },
            )
        )
    window = f"{plan.window_start or 'beginning'} to {plan.window_end}" if plan.window_end else None
    held_back = [(a, c.held_back) for a, c in sorted(plan.activities.items()) if c.held_back]
    problems = [f"activity {a} was held back: {why}" for a, why in held_back]
    unaccounted = sum(c.unaccounted for c in plan.activities.values())
    if unaccounted:
        problems.append(f"{unaccounted} rows read are neither staged, skipped, quarantined nor held back")
    share = _share_problem(plan, max_quarantine_share)
    if share:
        problems.append(share)
    return RunReport(
        title="Learnosity template reconcile" if plan.reconcile else "Learnosity template submission",
        dag_id=dag_id,
        run_id=plan.run_id,
        dry_run=plan.dry_run,
        window=window,
        columns=TEMPLATE_COLUMNS,
        groups=groups,
        reasons=merge_counts([c.quarantined_by_reason for c in plan.activities.values()]),
        warnings=merge_counts([c.warnings_by_code for c in plan.activities.values()]),
        failures=failures(sessions),
        held_back=held_back,
        balance=row_balance(plan),
        problems=problems,
        quarantine_csv=plan.quarantine_csv,
    )


def publish_template_report(
    ledger: Ledger,
    stage: StoragePath,
    out: StoragePath,
    dag_id: str,
    run_id: str,
    max_quarantine_share: float = DEFAULT_MAX_QUARANTINE_SHARE,
) -> PublishedReport:
    """Write the run's report and quarantine CSV to `out`; mark the window delivered only when it
    was a real, unfiltered run (`PlanSummary.advances_window`) that left nothing behind: every
    sent session completed or was rejected (a rejection is final until the content changes), no
    activity was held back and the report found no problem. Sessions a submit task or the job
    wait never finished, held-back activities and a quarantine share over the limit thus fall
    in the next window again."""
    plan = read_plan_summary(stage, PlanSummary)
    sessions = ledger.sessions_of_run(run_id)
    report = build_template_report(dag_id, plan, sessions, max_quarantine_share)
    if refused := refusal(stage):
        report.problems.insert(0, refused)
    if plan.quarantine_csv:
        write_private_text(out / QUARANTINE_FILE, (stage / QUARANTINE_FILE).read_text(encoding="utf-8"))
        report.quarantine_csv = QUARANTINE_FILE
    path = write_report(report, out)
    settled = {SessionStatus.COMPLETED, SessionStatus.QUARANTINED, SessionStatus.REJECTED}
    left_nothing = all(row.status in settled for row in sessions) and not report.problems
    if plan.advances_window and not plan.dry_run and left_nothing:
        ledger.finish_run(dag_id, run_id)
    return report.published(path)
