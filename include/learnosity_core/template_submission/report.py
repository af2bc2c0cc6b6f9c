"""The template-submission run report: per activity, rows to sessions to verified outcomes."""

from __future__ import annotations

from collections import Counter

from learnosity_core.delivery.ledger import Ledger
from learnosity_core.delivery.review import refusal
from learnosity_core.delivery.staging import StoragePath, read_plan_summary, write_private_text
from learnosity_core.reporting.render import write_report
from learnosity_core.reporting.report import (
    Bar,
    Chart,
    Clause,
    PublishedReport,
    ReportGroup,
    RunReport,
    Segment,
    SessionTally,
    Tone,
    merge_counts,
    not_delivered,
    plural,
    tally_sessions,
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


# A row's four possible outcomes, as the charts name and colour them.
_ROW_OUTCOMES: tuple[tuple[str, str, Tone], ...] = (
    ("rows_staged", "staged", "good"),
    ("rows_skipped", "skipped: delivered before", "neutral"),
    ("rows_quarantined", "quarantined", "bad"),
    ("rows_held_back", "held back", "warn"),
)


def _charts(plan: PlanSummary, totals: dict[str, int], reasons: dict[str, int]) -> list[Chart]:
    """Rows by outcome, by activity and by quarantine reason; sessions by status. Rows and
    sessions never share an axis. An empty run has no chart (the page says so)."""
    if not totals["rows"] and not any(c.held_back for c in plan.activities.values()):
        return []
    staged = "would be staged" if plan.dry_run else "staged"
    outcomes = [
        Bar(label=staged if field == "rows_staged" else label, value=totals[field], tone=tone)
        for field, label, tone in _ROW_OUTCOMES
    ]
    activities = []
    for activity_id, c in sorted(plan.activities.items()):
        parts = [
            Segment(label=label, value=getattr(c, field), tone=tone) for field, label, tone in _ROW_OUTCOMES
        ]
        note = ", ".join(f"{p.value:,} {p.label}" for p in parts if p.value)
        activities.append(Bar(label=activity_id, value=c.rows, note=note or None, segments=parts))
    first = totals["sessions_staged"] - totals["corrections"]
    sent = "would be sent" if plan.dry_run else "sent"
    sessions = [
        Bar(label=f"{sent}: first delivery", value=first, tone="good"),
        Bar(label=f"{sent}: correction", value=totals["corrections"], tone="good"),
        Bar(label="completed", value=totals["completed"], tone="good"),
        Bar(label="verified on read-back", value=totals["verified"], tone="good"),
        Bar(label="failed", value=totals["failed"], tone="bad"),
        Bar(label="rejected by Learnosity", value=totals["rejected"], tone="bad"),
        Bar(label="not sent: delivered before", value=totals["already_delivered"]),
        Bar(label="not sent: rejected before", value=totals["already_rejected"]),
    ]
    by_reason = sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))
    return [
        Chart(title="Rows by outcome", axis="outcome", unit="rows", bars=outcomes),
        Chart(
            title="Rows by quarantine reason",
            axis="reason",
            unit="rows",
            bars=[Bar(label=code, value=n, tone="bad") for code, n in by_reason],
            empty="Nothing was quarantined.",
        ),
        Chart(
            title="Sessions by status",
            axis="status",
            unit="sessions",
            bars=sessions,
            empty="No session was staged or sent.",
        ),
        Chart(title="Rows by activity", axis="activity", unit="rows", bars=activities),
    ]


def _headline(plan: PlanSummary, totals: dict[str, int]) -> list[Clause]:
    """The summary sentence: what was delivered, then what was not and where it is listed."""
    c = plan.activities.values()
    held = [a for a in c if a.held_back]
    quarantined_sessions = sum(a.sessions_quarantined for a in c)
    if not totals["rows"] and not held:
        scope = "since the reconcile start" if plan.reconcile else "in the window"
        return [Clause(text=f"Nothing to report: no rows changed {scope}, so nothing was sent")]
    corrections = totals["corrections"]
    fixes = f", {plural(corrections, 'correction')} among them" if corrections else ""
    clauses = []
    if plan.dry_run:
        clauses.append(
            Clause(
                text=f"Dry run, nothing sent: {plural(totals['sessions_staged'], 'session')}"
                f" would be sent{fixes}"
            )
        )
    else:
        done, verified = totals["completed"], totals["verified"]
        if verified == done and done:
            checked = " and verified"
        elif verified:
            checked = f" ({verified:,} verified on read-back)"
        else:
            checked = " (not verified on read-back)" if done else ""
        clauses.append(Clause(text=f"{plural(done, 'session')} delivered{checked}{fixes}"))
        clauses += not_delivered(totals["failed"], totals["rejected"])
    if totals["already_delivered"]:
        clauses.append(
            Clause(
                text=f"{plural(totals['already_delivered'], 'session')} already delivered (not sent again)"
            )
        )
    if totals["rows_quarantined"]:
        clauses.append(
            Clause(
                text=f"{plural(totals['rows_quarantined'], 'row')} held back in"
                f" {plural(quarantined_sessions, 'session')} (quarantined)",
                anchor="quarantine",
            )
        )
    if held:
        clauses.append(
            Clause(
                text=f"{plural(len(held), 'activity', 'activities')} held back whole"
                f" ({plural(sum(a.rows_held_back for a in held), 'row')})",
                anchor="held-back",
            )
        )
    return clauses


def build_template_report(
    dag_id: str,
    plan: PlanSummary,
    sessions: SessionTally,
    max_quarantine_share: float = DEFAULT_MAX_QUARANTINE_SHARE,
    ignore_response_revisions: bool | None = None,
    review_refusal: str | None = None,
) -> RunReport:
    """The run's report from its plan and what its sessions came to (`tally_sessions`, with the
    same `review_refusal`: why a reviewer's answer kept the run from sending)."""
    outcomes = sessions.outcomes
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
    totals = {column: sum(g.counts[column] for g in groups) for column in TEMPLATE_COLUMNS}
    reasons = merge_counts([c.quarantined_by_reason for c in plan.activities.values()])
    report = RunReport(
        title="Learnosity template reconcile" if plan.reconcile else "Learnosity template submission",
        dag_id=dag_id,
        run_id=plan.run_id,
        dry_run=plan.dry_run,
        window=window,
        columns=TEMPLATE_COLUMNS,
        groups=groups,
        headline=_headline(plan, totals),
        charts=_charts(plan, totals, reasons),
        reasons=reasons,
        warnings=merge_counts([c.warnings_by_code for c in plan.activities.values()]),
        failures=sessions.failures,
        held_back=held_back,
        balance=row_balance(plan),
        problems=problems,
        quarantine_csv=plan.quarantine_csv,
        ignore_response_revisions=ignore_response_revisions,
    )
    if review_refusal:
        report.refused(review_refusal)
    return report


def publish_template_report(
    ledger: Ledger,
    stage: StoragePath,
    out: StoragePath,
    dag_id: str,
    run_id: str,
    max_quarantine_share: float = DEFAULT_MAX_QUARANTINE_SHARE,
    ignore_response_revisions: bool | None = None,
) -> PublishedReport:
    """Write the run's report and quarantine CSV to `out`; mark the window delivered only when it
    was a real, unfiltered run (`PlanSummary.advances_window`) that left nothing behind: every
    sent session completed or was rejected (a rejection is final until the content changes), no
    activity was held back and the report found no problem. Sessions a submit task or the job
    wait never finished, held-back activities and a quarantine share over the limit thus fall
    in the next window again."""
    plan = read_plan_summary(stage, PlanSummary)
    refused = refusal(stage)
    # One pass over the run's sessions, streamed: a season's backfill need not fit in memory.
    sessions = tally_sessions(ledger.iter_sessions_of_run(dag_id, run_id), refused=refused)
    report = build_template_report(
        dag_id, plan, sessions, max_quarantine_share, ignore_response_revisions, refused
    )
    if plan.quarantine_csv:
        write_private_text(out / QUARANTINE_FILE, (stage / QUARANTINE_FILE).read_text(encoding="utf-8"))
        report.quarantine_csv = QUARANTINE_FILE
    path = write_report(report, out)
    left_nothing = not sessions.undelivered and not report.problems
    if plan.advances_window and not plan.dry_run and left_nothing:
        ledger.finish_run(dag_id, run_id)
    return report.published(path)
