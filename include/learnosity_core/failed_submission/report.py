"""The failed-submission replay report: every landing entry and table row accounted for (found =
waiting + skipped + invalid + duplicates + already_delivered + staged), then the outcomes."""

from __future__ import annotations

import logging
from collections import Counter

from learnosity_core.delivery.ledger import Ledger, SessionRow, SessionStatus
from learnosity_core.delivery.staging import StoragePath, read_plan_summary
from learnosity_core.failed_submission.landing import LEASE_TTL, lease_key, settle_files
from learnosity_core.failed_submission.plan import ReplaySummary
from learnosity_core.reporting.render import write_report
from learnosity_core.reporting.report import PublishedReport, ReportGroup, RunReport, failures, outcome_counts

log = logging.getLogger(__name__)

REPLAY_COLUMNS = [
    "found",
    "waiting",
    "skipped",
    "invalid",
    "duplicates",
    "already_delivered",
    "staged",
    "submitted",
    "completed",
    "failed",
    "verified",
]


LEARNER_DATA = (
    "Learner data at rest: blob files stay in the landing location until their session completed, "
    "then in its processed/, duplicates/ and quarantine/ folders (owner-only) until you remove them; "
    "this run's staged batches are deleted once it finished with nothing failed, otherwise after "
    "Variable learnosity_stage_retention_days (default 7)."
)


def build_replay_report(dag_id: str, summary: ReplaySummary, sessions: list[SessionRow]) -> RunReport:
    outcomes: Counter[str] = outcome_counts(sessions, key="data_format").get("failed_submission", Counter())
    counts = {
        "found": summary.found,
        "waiting": len(summary.waiting),
        "skipped": len(summary.skipped),
        "invalid": sum(summary.invalid_by_reason.values()),
        "duplicates": summary.duplicates,
        "already_delivered": summary.already_delivered,
        "staged": summary.staged,
        "submitted": outcomes.get("submitted", 0),
        "completed": outcomes.get("completed", 0),
        "failed": outcomes.get("failed", 0),
        "verified": outcomes.get("verified", 0),
    }
    window = f"landing location {summary.landing}" if summary.landing else None
    if summary.busy_with:
        window = f"{window}, in use by run {summary.busy_with}: this run took nothing from it"
    left = [(name, f"waiting: {why}") for name, why in sorted(summary.waiting.items())]
    left += [(name, f"skipped: {why}") for name, why in sorted(summary.skipped.items())]
    return RunReport(
        title="Learnosity failed-submission replay",
        dag_id=dag_id,
        run_id=summary.run_id,
        dry_run=summary.dry_run,
        window=window,
        columns=REPLAY_COLUMNS,
        groups=[ReportGroup(name="failed submissions", counts=counts)],
        reasons=summary.invalid_by_reason,
        failures=failures(sessions),
        left_in_place=left,
        notes=[LEARNER_DATA],
    )


def publish_replay_report(
    ledger: Ledger,
    stage: StoragePath,
    landing: StoragePath,
    out: StoragePath,
    dag_id: str,
    run_id: str,
) -> PublishedReport:
    """Move completed sessions' files to processed/ (not in a dry run), give the landing location's
    lease back, then write the report. Files move only while this run still holds the lease: one
    that expired and was taken by another run leaves them to that run."""
    key = lease_key(landing)
    try:
        summary = read_plan_summary(stage, ReplaySummary)
        sessions = ledger.sessions_of_run(run_id)
        if not summary.dry_run and summary.busy_with is None:
            holder = ledger.acquire_lease(key, run_id, LEASE_TTL)
            if holder is None:
                completed = [row.session_id for row in sessions if row.status == SessionStatus.COMPLETED]
                moved = settle_files(landing, summary.sources, completed)
                log.info("Moved %d replayed files to processed/", moved)
            else:
                log.warning("Run %s took over %s: it moves this run's files", holder, landing)
    finally:
        ledger.release_lease(key, run_id)
    report = build_replay_report(dag_id, summary, sessions)
    path = write_report(report, out)
    return PublishedReport(report=path, totals=report.totals(), failed=report.failed)
