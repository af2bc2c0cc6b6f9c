"""The failed-submission replay report: blobs found, invalid by reason, duplicates, outcomes."""

from __future__ import annotations

import logging
from collections import Counter

from learnosity_core.delivery.ledger import Ledger, SessionRow, SessionStatus
from learnosity_core.delivery.staging import StoragePath, read_plan_summary
from learnosity_core.failed_submission.landing import settle_files
from learnosity_core.failed_submission.plan import ReplaySummary
from learnosity_core.reporting.render import write_report
from learnosity_core.reporting.report import PublishedReport, ReportGroup, RunReport, failures, outcome_counts

log = logging.getLogger(__name__)

REPLAY_COLUMNS = [
    "found",
    "invalid",
    "duplicates",
    "already_delivered",
    "submitted",
    "completed",
    "failed",
    "verified",
]


def build_replay_report(dag_id: str, summary: ReplaySummary, sessions: list[SessionRow]) -> RunReport:
    outcomes: Counter[str] = outcome_counts(sessions, key="data_format").get("failed_submission", Counter())
    counts = {
        "found": summary.found,
        "invalid": sum(summary.invalid_by_reason.values()),
        "duplicates": summary.duplicates,
        "already_delivered": summary.already_delivered,
        "submitted": outcomes.get("submitted", 0),
        "completed": outcomes.get("completed", 0),
        "failed": outcomes.get("failed", 0),
        "verified": outcomes.get("verified", 0),
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


def publish_replay_report(
    ledger: Ledger,
    stage: StoragePath,
    landing: StoragePath,
    out: StoragePath,
    dag_id: str,
    run_id: str,
) -> PublishedReport:
    """Move completed sessions' files to processed/ (not in a dry run), then write the report."""
    summary = read_plan_summary(stage, ReplaySummary)
    sessions = ledger.sessions_of_run(run_id)
    if not summary.dry_run:
        completed = [row.session_id for row in sessions if row.status == SessionStatus.COMPLETED]
        moved = settle_files(landing, summary.sources, completed)
        log.info("Moved %d replayed files to processed/", moved)
    report = build_replay_report(dag_id, summary, sessions)
    path = write_report(report, out)
    return PublishedReport(report=path, totals=report.totals(), failed=report.failed)
