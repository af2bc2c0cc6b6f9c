"""The failed-submission replay report, and where each replayed file ends up.

Every landing entry and table row is accounted for (found = waiting + skipped + invalid +
duplicates + already_delivered + staged), then the outcomes. What happens to a sent blob is
Learnosity's answer, not ours: its file moves to `processed/` once its job completed it, and to
`quarantine/` with Learnosity's reason when it was rejected (the request refused it, or a
completed job did not store it). A session whose job halted, timed out or was lost, or that
read-back did not find, keeps its file in the landing folder for the next run (and fails this one).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping

from learnosity_core.delivery.ledger import Ledger, SessionRow, SessionStatus
from learnosity_core.delivery.review import refusal
from learnosity_core.delivery.staging import StoragePath, read_plan_summary
from learnosity_core.delivery.verify import STAND_IN_PREFIX
from learnosity_core.failed_submission.landing import (
    LEASE_TTL,
    QUARANTINE_FOLDER,
    lease_key,
    move,
    settle_files,
)
from learnosity_core.failed_submission.plan import ReplaySummary
from learnosity_core.reporting.render import write_report
from learnosity_core.reporting.report import (
    Bar,
    Chart,
    Clause,
    Failure,
    PublishedReport,
    ReportGroup,
    RunReport,
    failures,
    not_delivered,
    outcome_counts,
    plural,
)

log = logging.getLogger(__name__)

MAX_NOTES = 500  # a page a person reads; the counts above cover every file

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
    "rejected",
    "failed",
    "verified",
]


LEARNER_DATA = (
    "Learner data at rest: blob files stay in the landing location until their session completed, "
    "then in its processed/, duplicates/ and quarantine/ folders (owner-only) until you remove them; "
    "this run's staged batches are deleted once it finished with nothing failed, otherwise after "
    "Variable learnosity_stage_retention_days (default 7)."
)


def rejected_by_job(row: SessionRow, job_statuses: Mapping[str, str | None]) -> bool:
    """A session Learnosity rejected: its request was refused (`rejected`), or a completed job says
    it did not store it (not one a halt, a timeout or read-back failed)."""
    return row.status == SessionStatus.REJECTED or (
        row.status == SessionStatus.FAILED
        and row.verified is None
        and row.job_reference is not None
        and job_statuses.get(row.job_reference) == "completed"
    )


def _label(summary: ReplaySummary, key: str) -> str:
    """A blob as the report names it: by file (or table row), with its session when it names one."""
    source = summary.sources.get(key)
    if source is None:
        return key
    return source.name if key.startswith(STAND_IN_PREFIX) else f"{source.name} (session {key})"


def _charts(counts: dict[str, int], summary: ReplaySummary) -> list[Chart]:
    """Files (and table rows) by outcome and invalid ones by reason; sessions by status."""
    if not counts["found"]:
        return []
    staged = "would be sent" if summary.dry_run else "sent"
    entries = [
        Bar(label=staged, value=counts["staged"], tone="good"),
        Bar(label="already delivered", value=counts["already_delivered"]),
        Bar(label="duplicate (an older or the same blob)", value=counts["duplicates"]),
        Bar(label="invalid: quarantined", value=counts["invalid"], tone="bad"),
        Bar(label="waiting for a later run", value=counts["waiting"], tone="warn"),
        Bar(label="skipped (never taken)", value=counts["skipped"], tone="warn"),
    ]
    sessions = [
        Bar(label="submitted", value=counts["submitted"]),
        Bar(label="completed", value=counts["completed"], tone="good"),
        Bar(label="verified on read-back", value=counts["verified"], tone="good"),
        Bar(label="rejected by Learnosity", value=counts["rejected"], tone="bad"),
        Bar(label="failed", value=counts["failed"], tone="bad"),
    ]
    by_reason = sorted(summary.invalid_by_reason.items(), key=lambda kv: (-kv[1], kv[0]))
    return [
        Chart(title="Files and table rows by outcome", axis="outcome", unit="blobs", bars=entries),
        Chart(
            title="Invalid blobs by reason",
            axis="reason",
            unit="blobs",
            bars=[Bar(label=code, value=n, tone="bad") for code, n in by_reason],
            empty="No blob was invalid.",
        ),
        Chart(
            title="Sessions by status",
            axis="status",
            unit="sessions",
            bars=sessions,
            empty="No session was sent." if not summary.dry_run else "Dry run: no session was sent.",
        ),
    ]


def _headline(counts: dict[str, int], summary: ReplaySummary) -> list[Clause]:
    """The summary sentence: what was delivered, then what was not and where it is listed."""
    if summary.busy_with:
        return [
            Clause(text=f"Nothing taken: run {summary.busy_with} is replaying from this landing location")
        ]
    if not counts["found"]:
        return [Clause(text="Nothing to report: the landing location (and table) held no blob")]
    if summary.dry_run:
        clauses = [
            Clause(text=f"Dry run, nothing sent or moved: {plural(counts['staged'], 'blob')} would be sent")
        ]
    else:
        done, verified = counts["completed"], counts["verified"]
        checked = " and verified" if done and verified == done else ""
        clauses = [Clause(text=f"{plural(done, 'session')} delivered{checked}")]
        clauses += not_delivered(counts["failed"], counts["rejected"])
    if counts["already_delivered"]:
        clauses.append(Clause(text=f"{plural(counts['already_delivered'], 'blob')} already delivered"))
    if counts["duplicates"]:
        clauses.append(Clause(text=f"{plural(counts['duplicates'], 'duplicate')} set aside"))
    if counts["invalid"]:
        clauses.append(
            Clause(text=f"{plural(counts['invalid'], 'invalid blob')} quarantined", anchor="quarantine")
        )
    if counts["waiting"] or counts["skipped"]:
        left = counts["waiting"] + counts["skipped"]
        clauses.append(Clause(text=f"{plural(left, 'entry', 'entries')} left in place", anchor="left"))
    return clauses


def _per_file(
    summary: ReplaySummary, rows: list[SessionRow], rejected_ids: set[str], staged: list[Failure]
) -> list[tuple[str, str]]:
    """Every file (or table row) this run took, by name, with what became of it."""
    moved = "" if summary.dry_run else ", moved to quarantine/"
    notes = [(name, f"invalid{moved}: {code}: {message}") for name, code, message in summary.invalid]
    failed = {f.session_id: f.error for f in staged}
    for row in sorted(rows, key=lambda r: _label(summary, r.session_id)):
        if row.session_id not in summary.sources or row.session_id in rejected_ids:
            continue
        name = _label(summary, row.session_id)
        if row.status == SessionStatus.COMPLETED:
            notes.append((name, "delivered, moved to processed/"))
        elif row.session_id in failed:
            notes.append((name, f"not delivered, kept for the next run: {failed[row.session_id]}"))
    return notes


def build_replay_report(
    dag_id: str,
    summary: ReplaySummary,
    sessions: list[SessionRow],
    job_statuses: Mapping[str, str | None] | None = None,
    ignore_response_revisions: bool | None = None,
    review_refusal: str | None = None,
) -> RunReport:
    """The replay's report; `review_refusal`: why a reviewer's answer kept the run from sending."""
    rows = [row for row in sessions if row.data_format == "failed_submission"]
    rejected = [row for row in rows if rejected_by_job(row, job_statuses or {})]
    rejected_ids = {row.session_id for row in rejected}
    outcomes: Counter[str] = outcome_counts(
        [row for row in rows if row.session_id not in rejected_ids], key="data_format"
    ).get("failed_submission", Counter())
    counts = {
        "found": summary.found,
        "waiting": len(summary.waiting),
        "skipped": len(summary.skipped),
        "invalid": sum(summary.invalid_by_reason.values()),
        "duplicates": summary.duplicates,
        "already_delivered": summary.already_delivered,
        "staged": summary.staged,
        "submitted": outcomes.get("submitted", 0) + sum(1 for row in rejected if row.job_reference),
        "completed": outcomes.get("completed", 0),
        "rejected": len(rejected),
        "failed": outcomes.get("failed", 0),
        "verified": outcomes.get("verified", 0),
    }
    window = f"landing location {summary.landing}" if summary.landing else None
    if summary.busy_with:
        window = f"{window}, in use by run {summary.busy_with}: this run took nothing from it"
    left = [(name, f"waiting: {why}") for name, why in sorted(summary.waiting.items())]
    left += [(name, f"skipped: {why}") for name, why in sorted(summary.skipped.items())]
    not_delivered = [
        failure.model_copy(update={"label": _label(summary, failure.session_id)})
        for failure in failures((r for r in rows if r.session_id not in rejected_ids), refused=review_refusal)
    ]
    refused = [
        Failure(
            session_id=row.session_id,
            label=_label(summary, row.session_id),
            error=row.error or "rejected",
            status="rejected",
        )
        for row in rejected
    ]
    notes = _per_file(summary, rows, rejected_ids, not_delivered)
    notes += [
        (_label(summary, row.session_id), f"rejected by Learnosity, moved to quarantine/: {row.error}")
        for row in rejected
    ]
    notes += [(name, f"sent with a warning: {warning}") for name, warning in summary.warnings]
    if len(notes) > MAX_NOTES:
        notes = [*notes[:MAX_NOTES], ("...", f"{len(notes) - MAX_NOTES} more not listed")]
    report = RunReport(
        title="Learnosity failed-submission replay",
        dag_id=dag_id,
        run_id=summary.run_id,
        dry_run=summary.dry_run,
        window=window,
        columns=REPLAY_COLUMNS,
        groups=[ReportGroup(name="failed submissions", counts=counts)],
        data_format="failed_submission",
        headline=_headline(counts, summary),
        charts=_charts(counts, summary),
        reasons=summary.invalid_by_reason,
        warnings=summary.warnings_by_code,
        failures=not_delivered + refused,
        left_in_place=left,
        per_file=notes,
        notes=[LEARNER_DATA],
        ignore_response_revisions=ignore_response_revisions,
    )
    if review_refusal:
        report.refused(review_refusal)
    return report


def settle_replayed(
    landing: StoragePath,
    summary: ReplaySummary,
    sessions: list[SessionRow],
    job_statuses: Mapping[str, str | None],
) -> tuple[int, int]:
    """Move each sent file by its job's answer: completed to processed/, rejected to quarantine/
    with the job's reason; the others stay for the next run. (processed, quarantined) counts."""
    completed = [row.session_id for row in sessions if row.status == SessionStatus.COMPLETED]
    processed = settle_files(landing, summary.sources, completed)
    quarantined = 0
    for row in sessions:
        source = summary.sources.get(row.session_id)
        if source is None or source.origin != "file" or not rejected_by_job(row, job_statuses):
            continue
        reason = row.error or "rejected"
        if row.job_reference and row.job_reference not in reason:
            reason += f" (Learnosity job {row.job_reference})"
        if move(landing, source.name, QUARANTINE_FOLDER, reason, fingerprint=source.fingerprint) is not None:
            quarantined += 1
    return processed, quarantined


def publish_replay_report(
    ledger: Ledger,
    stage: StoragePath,
    landing: StoragePath,
    out: StoragePath,
    dag_id: str,
    run_id: str,
    ignore_response_revisions: bool | None = None,
) -> PublishedReport:
    """Move the sent files by their jobs' answers (not in a dry run), give the landing location's
    lease back, then write the report. Files move only while this run still holds the lease: one
    that expired and was taken by another run leaves them to that run."""
    key = lease_key(landing)
    try:
        summary = read_plan_summary(stage, ReplaySummary)
        sessions = ledger.sessions_of_run(dag_id, run_id)
        job_statuses = ledger.job_statuses(dag_id, run_id)
        if not summary.dry_run and summary.busy_with is None:
            holder = ledger.acquire_lease(key, run_id, LEASE_TTL)
            if holder is None:
                processed, quarantined = settle_replayed(landing, summary, sessions, job_statuses)
                log.info(
                    "Moved %d replayed files to processed/, %d rejected to quarantine/",
                    processed,
                    quarantined,
                )
            else:
                log.warning("Run %s took over %s: it moves this run's files", holder, landing)
    finally:
        ledger.release_lease(key, run_id)
    report = build_replay_report(
        dag_id, summary, sessions, job_statuses, ignore_response_revisions, refusal(stage)
    )
    path = write_report(report, out)
    return PublishedReport(
        report=path, totals=report.totals(), failed=report.failed, problems=report.problems
    )
