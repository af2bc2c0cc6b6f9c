"""The template-submission report: counts from the plan and the ledger, quarantine copied, window closed."""

from __future__ import annotations

import csv
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from markupsafe import escape

from learnosity_core.dataapi import DataApiValidationError
from learnosity_core.delivery.ledger import Ledger, SessionOutcome, SessionStatus
from learnosity_core.delivery.review import ReviewAnswer, record_refusal
from learnosity_core.delivery.staging import read_batch, read_plan_summary, read_shard
from learnosity_core.delivery.warehouse import Source
from learnosity_core.reporting.reasons import explain
from learnosity_core.reporting.report import tally_sessions
from learnosity_core.template_submission.plan import PlanRequest, PlanSummary, plan_template_run
from learnosity_core.template_submission.report import (
    TEMPLATE_COLUMNS,
    build_template_report,
    publish_template_report,
)
from learnosity_core.template_submission.templates import TemplateRef
from learnosity_devtools.emulator.seed import demo_templates
from learnosity_devtools.sample_data import sample_rows, seed_warehouse

DAG = "learnosity_template_submission"
NOW = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)


GHOST = "activity-not-in-learnosity"  # sample_rows' activity that has no template


@pytest.fixture
def rows() -> pd.DataFrame:
    """The sample rows of activities that have a template (see the held-back test for the rest)."""
    frame = sample_rows(demo_templates(), learners=10, now=NOW)
    return frame[frame["activity_id"] != GHOST].reset_index(drop=True)


@pytest.fixture
def engine(tmp_path: Path, rows: pd.DataFrame) -> sa.Engine:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'warehouse.db'}")
    seed_warehouse(engine, rows)
    return engine


def _fetch(ref: TemplateRef) -> dict[str, Any]:
    activity_id = ref.activity_template_id or ""
    templates = demo_templates()
    if activity_id not in templates:
        raise DataApiValidationError(f"no session template for {activity_id}")
    return templates[activity_id]


def _plan(
    tmp_path: Path, engine: sa.Engine, ledger: Ledger, run_id: str = "run-1", **request: Any
) -> tuple[PlanSummary, Path, Path]:
    stage = tmp_path / "stage" / run_id
    out = tmp_path / "reports" / run_id
    stage.mkdir(parents=True)
    out.mkdir(parents=True)
    summary = plan_template_run(
        engine, Source(), _fetch, ledger, stage, PlanRequest(run_id=run_id, **request), DAG, NOW
    )
    return summary, stage, out


def _deliver(
    ledger: Ledger, stage: Path, summary: PlanSummary, fail: int = 0, verify: bool = True
) -> list[str]:
    """Record every batch as posted and its sessions completed, except the first `fail` sessions."""
    failed: list[str] = []
    names = [n for shard in summary.shards for n in read_shard(stage, shard.shard)]
    for n, name in enumerate(names):
        batch = read_batch(stage, name)
        reference = f"job-{n}"
        ledger.record_submission(batch.batch_id, reference)
        outcomes = []
        for sid in batch.session_ids:
            if len(failed) < fail:
                failed.append(sid)
                outcomes.append(
                    SessionOutcome(sid, SessionStatus.FAILED, "invalid_value: injected for the test")
                )
            else:
                outcomes.append(SessionOutcome(sid, SessionStatus.COMPLETED))
        ledger.record_job(reference, "completed", outcomes)
    if verify:
        completed = [
            r.session_id for r in ledger.sessions_of_run(DAG, summary.run_id) if r.status == "completed"
        ]
        ledger.record_verification(dict.fromkeys(completed))
    return failed


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _bar(page: str, chart: str, label: str) -> int:
    """The value printed beside one bar of one chart of the rendered page."""
    section = page.split(f"<figcaption>{chart}</figcaption>", 1)[1].split("</figure>", 1)[0]
    found = re.search(
        rf'<div class="label" role="rowheader">{re.escape(escape(label))}(?:<small>[^<]*</small>)?</div>'
        r'.*?<div class="value" role="cell">([\d,]+)</div>',
        section,
        re.S,
    )
    assert found, f"no bar {label!r} in chart {chart!r}"
    return int(found.group(1).replace(",", ""))


def _total(summary: PlanSummary, field: str) -> int:
    return sum(getattr(c, field) for c in summary.activities.values())


def test_a_delivered_run_is_reported_and_closes_its_window(
    tmp_path: Path, engine: sa.Engine, ledger: Ledger, rows: pd.DataFrame
) -> None:
    summary, stage, out = _plan(tmp_path, engine, ledger, batch_size=9)
    _deliver(ledger, stage, summary)
    assert ledger.last_window_end(DAG) is None

    # The sample rows are adversarial: a third of them is quarantined on purpose.
    published = publish_template_report(ledger, stage, out, DAG, "run-1", max_quarantine_share=0.5)

    staged = _total(summary, "sessions_staged")
    assert published.report == str(out / "report.html") and (out / "report.html").exists()
    assert published.failed == 0 and published.delivered_everything
    quarantined = _total(summary, "rows_quarantined")
    assert published.totals == {
        "rows": len(rows),
        "rows_staged": len(rows) - quarantined,
        "rows_skipped": 0,
        "rows_quarantined": quarantined,
        "rows_held_back": 0,
        "sessions_staged": staged,
        "corrections": 0,
        "already_delivered": 0,
        "already_rejected": 0,
        "submitted": staged,
        "completed": staged,
        "rejected": 0,
        "failed": 0,
        "verified": staged,
    }
    assert list(published.totals) == TEMPLATE_COLUMNS
    assert _csv(out / "quarantine.csv") == _csv(stage / "quarantine.csv")
    assert len(_csv(out / "quarantine.csv")) == _total(summary, "rows_quarantined") > 0
    page = (out / "report.html").read_text(encoding="utf-8")
    assert 'href="quarantine.csv"' in page and "unknown_question" in page and "No session failed." in page
    assert "Held back" not in page and "not green" not in page
    assert f"{len(rows)} rows read = {len(rows) - quarantined} staged + 0 skipped" in page
    sessions_quarantined = _total(summary, "sessions_quarantined")
    sentence = (
        f"{staged} sessions delivered and verified; {quarantined} rows held back in"
        f" {sessions_quarantined} sessions (quarantined)"
    )
    assert f'id="summary">{sentence}: <a href="#quarantine">see the list</a>.</p>' in page
    assert _bar(page, "Rows by outcome", "staged") == len(rows) - quarantined
    assert _bar(page, "Rows by outcome", "quarantined") == quarantined
    assert _bar(page, "Sessions by status", "verified on read-back") == staged
    for reason, count in Counter(r["reason"] for r in _csv(out / "quarantine.csv")).items():
        assert _bar(page, "Rows by quarantine reason", reason) == count
        assert (
            f'<tr><td>{reason}</td><td>{count}</td><td class="text">{escape(explain(reason).meaning)}</td>'
            in page
        )
    for activity, counts in summary.activities.items():
        assert _bar(page, "Rows by activity", activity) == counts.rows
    summary = (out / "summary.txt").read_text(encoding="utf-8")
    assert summary.startswith(f"{sentence}: see the list.\nLearnosity template submission run-1: rows=")
    assert f"{len(rows)} rows read = " in summary
    assert ledger.last_window_end(DAG) == NOW


def test_a_run_with_a_failed_session_keeps_its_window_open(
    tmp_path: Path, engine: sa.Engine, ledger: Ledger
) -> None:
    summary, stage, out = _plan(tmp_path, engine, ledger)
    (failed,) = _deliver(ledger, stage, summary, fail=1)

    published = publish_template_report(ledger, stage, out, DAG, "run-1")
    assert published.failed == 1 and published.totals["failed"] == 1
    assert published.totals["completed"] == _total(summary, "sessions_staged") - 1
    page = (out / "report.html").read_text(encoding="utf-8")
    assert failed in page and "invalid_value: injected for the test" in page
    assert f'<a class="history" href="/learnosity/lookup?session={failed}">{failed}</a>' in page
    assert '1 session failed: <a href="#failures">see the list</a>' in page
    assert ledger.last_window_end(DAG) is None


def test_a_dry_run_is_reported_but_never_closes_its_window(
    tmp_path: Path, engine: sa.Engine, ledger: Ledger
) -> None:
    summary, stage, out = _plan(tmp_path, engine, ledger, dry_run=True)
    published = publish_template_report(ledger, stage, out, DAG, "run-1")

    assert published.totals["sessions_staged"] == _total(summary, "sessions_staged") > 0
    assert published.totals["submitted"] == published.totals["completed"] == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "dry run: nothing was sent" in page
    assert f"Dry run, nothing sent: {published.totals['sessions_staged']} sessions would be sent" in page
    assert (
        _bar(page, "Sessions by status", "would be sent: first delivery")
        == published.totals["sessions_staged"]
    )
    assert ledger.last_window_end(DAG) is None


def test_the_next_run_starts_where_a_closed_window_ended(
    tmp_path: Path, engine: sa.Engine, ledger: Ledger
) -> None:
    summary, stage, out = _plan(tmp_path, engine, ledger)
    _deliver(ledger, stage, summary)
    publish_template_report(ledger, stage, out, DAG, "run-1", max_quarantine_share=0.5)

    later = plan_template_run(
        engine,
        Source(),
        _fetch,
        ledger,
        tmp_path / "stage-2",
        PlanRequest(run_id="run-2"),
        DAG,
        NOW + timedelta(days=1),
    )
    assert later.window_start == NOW.isoformat()
    assert later.activities == {}  # every row was updated before the closed window's end


def test_a_run_without_quarantine_copies_no_csv(tmp_path: Path, ledger: Ledger) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'clean.db'}")
    seed_warehouse(engine, sample_rows(demo_templates(), learners=4, now=NOW, invalid=False))
    summary, stage, out = _plan(tmp_path, engine, ledger)
    assert summary.quarantine_csv is None
    _deliver(ledger, stage, summary)

    published = publish_template_report(ledger, stage, out, DAG, "run-1")
    assert not (out / "quarantine.csv").exists()
    assert published.totals["rows_quarantined"] == 0
    assert "Nothing was quarantined." in (out / "report.html").read_text(encoding="utf-8")
    assert ledger.last_window_end(DAG) == NOW


def test_build_template_report_counts_per_activity(tmp_path: Path, engine: sa.Engine, ledger: Ledger) -> None:
    summary, stage, _ = _plan(tmp_path, engine, ledger, batch_size=5)
    (failed,) = _deliver(ledger, stage, summary, fail=1, verify=False)
    sessions = ledger.sessions_of_run(DAG, "run-1")
    tally = tally_sessions(ledger.iter_sessions_of_run(DAG, "run-1"))
    assert tally.undelivered == 1

    report = build_template_report(DAG, read_plan_summary(stage, PlanSummary), tally)
    assert [g.name for g in report.groups] == sorted(summary.activities)
    assert report.window == f"beginning to {NOW.isoformat()}"
    assert [(f.session_id, f.error) for f in report.failures] == [
        (failed, "invalid_value: injected for the test")
    ]
    for group in report.groups:
        counts = summary.activities[group.name]
        mine = [r for r in sessions if r.activity_id == group.name and r.status != SessionStatus.QUARANTINED]
        assert group.counts["rows"] == counts.rows
        assert group.counts["rows_quarantined"] == counts.rows_quarantined
        assert group.counts["sessions_staged"] == counts.sessions_staged == len(mine)
        assert group.counts["submitted"] == len(mine)  # quarantined sessions are never "submitted"
        assert group.counts["completed"] + group.counts["failed"] == len(mine)
        assert group.counts["verified"] == 0
    assert report.reasons == dict(Counter(r["reason"] for r in _csv(stage / "quarantine.csv")))
    assert report.totals()["failed"] == report.failed == 1


def test_sessions_never_delivered_keep_the_window_open(
    tmp_path: Path, engine: sa.Engine, ledger: Ledger
) -> None:
    summary, stage, out = _plan(tmp_path, engine, ledger)
    assert _total(summary, "sessions_staged") > 0  # staged, but the submit tasks never ran
    published = publish_template_report(ledger, stage, out, DAG, "run-1")
    assert published.totals["completed"] == 0
    assert ledger.last_window_end(DAG) is None


def test_a_held_back_activity_is_reported_and_keeps_the_window_open(
    tmp_path: Path, engine: sa.Engine, ledger: Ledger
) -> None:
    ghost = sample_rows(demo_templates(), learners=10, now=NOW)
    ghost = ghost[ghost["activity_id"] == GHOST].assign(row_id=lambda f: range(900_001, 900_001 + len(f)))
    ghost.to_sql("learnosity_responses", engine, if_exists="append", index=False)
    summary, stage, out = _plan(tmp_path, engine, ledger)
    _deliver(ledger, stage, summary)

    published = publish_template_report(ledger, stage, out, DAG, "run-1", max_quarantine_share=0.5)
    assert published.failed == 0 and published.totals["rows_held_back"] == 3
    assert not published.delivered_everything
    assert published.problems == [f"activity {GHOST} was held back: {summary.activities[GHOST].held_back}"]
    assert published.totals["completed"] == _total(summary, "sessions_staged") > 0
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Held back" in page and f"<td>{GHOST}</td>" in page and "no session template" in page
    held = summary.activities[GHOST].rows_held_back
    assert f'1 activity held back whole ({held} rows): <a href="#held-back">see the list</a>' in page
    assert _bar(page, "Rows by outcome", "held back") == held
    assert ledger.last_window_end(DAG) is None, "held-back rows must be read again by the next run"


def test_a_filtered_run_delivers_but_leaves_the_shared_window_where_it_was(
    tmp_path: Path, engine: sa.Engine, ledger: Ledger
) -> None:
    summary, stage, out = _plan(tmp_path, engine, ledger, activity_ids=["demo-biology-cells-u3"])
    _deliver(ledger, stage, summary)
    published = publish_template_report(ledger, stage, out, DAG, "run-1")
    assert published.failed == 0 and published.totals["completed"] > 0
    assert ledger.last_window_end(DAG) is None, "other activities' changes in this window are still unsent"


def test_a_quarantine_share_over_the_limit_fails_the_run_naming_what_dominates(
    tmp_path: Path, engine: sa.Engine, ledger: Ledger, rows: pd.DataFrame
) -> None:
    summary, stage, out = _plan(tmp_path, engine, ledger)
    _deliver(ledger, stage, summary)
    published = publish_template_report(ledger, stage, out, DAG, "run-1")  # the default limit, 20%

    quarantined = _total(summary, "rows_quarantined")
    (problem,) = published.problems
    assert problem.startswith(
        f"{quarantined / len(rows):.0%} of the {len(rows)} rows read were quarantined or held back,"
        " above max_quarantine_share 20%: mostly "
    )
    worst = max(summary.activities, key=lambda a: summary.activities[a].rows_quarantined)
    top_reason = max(summary.activities[worst].quarantined_by_reason.items(), key=lambda kv: kv[1])[0]
    assert f"{worst} (" in problem and top_reason in problem
    assert problem in (out / "report.html").read_text(encoding="utf-8")
    assert ledger.last_window_end(DAG) is None, "the quarantined rows come back once they are fixed"


def test_a_rejected_session_is_listed_and_fails_the_run_but_no_longer_holds_the_window(
    tmp_path: Path, engine: sa.Engine, ledger: Ledger
) -> None:
    summary, stage, out = _plan(tmp_path, engine, ledger, batch_size=1)
    first, *rest = [n for shard in summary.shards for n in read_shard(stage, shard.shard)]
    rejected = read_batch(stage, first)
    ledger.record_rejection(rejected.batch_id, "rejected by the Data API: data[0]: user_id is blank")
    for n, name in enumerate(rest):
        batch = read_batch(stage, name)
        ledger.record_submission(batch.batch_id, f"job-{n}")
        ledger.record_job(
            f"job-{n}", "completed", [SessionOutcome(s, SessionStatus.COMPLETED) for s in batch.session_ids]
        )

    published = publish_template_report(ledger, stage, out, DAG, "run-1", max_quarantine_share=0.5)
    assert (published.rejected, published.failed) == (1, 0) and not published.delivered_everything
    (sid,) = rejected.session_ids
    page = (out / "report.html").read_text(encoding="utf-8")
    assert f'href="/learnosity/lookup?session={sid}">{sid}</a></td><td class="bad">rejected</td>' in page
    assert "The Data API refused the request for a reason no retry can fix." in page
    assert _bar(page, "Sessions by status", "rejected by Learnosity") == 1
    assert ledger.last_window_end(DAG) == NOW

    again, _, _ = _plan(
        tmp_path, engine, ledger, run_id="run-2", window_start=datetime(2026, 1, 1, tzinfo=UTC)
    )
    assert _total(again, "sessions_already_rejected") == 1, "not sent again until its content changes"
    assert _total(again, "sessions_staged") == 0


def test_a_correction_is_counted_apart_from_first_deliveries_with_the_revisions_setting(
    tmp_path: Path, engine: sa.Engine, ledger: Ledger
) -> None:
    summary, stage, out = _plan(tmp_path, engine, ledger)
    _deliver(ledger, stage, summary)
    publish_template_report(ledger, stage, out, DAG, "run-1", max_quarantine_share=0.5)
    corrected = next(r for r in ledger.sessions_of_run(DAG, "run-1") if r.status == SessionStatus.COMPLETED)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE learnosity_responses SET response = CASE WHEN question_type IN"
                " ('shorttext', 'plaintext', 'longtext', 'longtextV2', 'formulaV2') THEN 'corrected'"
                " ELSE response END WHERE activity_id = :a AND user_id = :u"
            ),
            {"a": corrected.activity_id, "u": corrected.user_id},
        )
    again, stage, out = _plan(
        tmp_path, engine, ledger, run_id="run-2", window_start=datetime(2026, 1, 1, tzinfo=UTC)
    )
    _deliver(ledger, stage, again)

    published = publish_template_report(
        ledger, stage, out, DAG, "run-2", max_quarantine_share=0.5, ignore_response_revisions=False
    )
    assert (published.totals["corrections"], published.totals["sessions_staged"]) == (1, 1)
    page = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="summary">1 session delivered and verified, 1 correction among them;' in page
    assert "1 correction, 0 first deliveries." in page
    assert _bar(page, "Sessions by status", "sent: correction") == 1
    assert _bar(page, "Sessions by status", "sent: first delivery") == 0
    assert (
        _bar(page, "Sessions by status", "not sent: delivered before")
        == published.totals["already_delivered"]
    )
    assert "ignore_response_revisions was off for this run (the default)" in page
    assert "  ignore_response_revisions=false" in (out / "summary.txt").read_text(encoding="utf-8")


def test_an_empty_run_says_nothing_to_report(tmp_path: Path, engine: sa.Engine, ledger: Ledger) -> None:
    summary, stage, out = _plan(tmp_path, engine, ledger, activity_ids=["no-such-activity"])
    assert summary.activities == {}
    publish_template_report(ledger, stage, out, DAG, "run-1")
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Nothing to report: no rows changed in the window, so nothing was sent." in page
    assert "<svg" not in page and "there is no chart" in page
    assert (out / "summary.txt").read_text(encoding="utf-8").startswith("Nothing to report: no rows changed")


def test_a_run_refused_at_review_is_not_green_says_why_and_keeps_its_window(
    tmp_path: Path, engine: sa.Engine, ledger: Ledger
) -> None:
    summary, stage, out = _plan(tmp_path, engine, ledger)
    figures = summary.review_figures()
    assert figures.sessions == _total(summary, "sessions_staged") > 0
    assert figures.read == _total(summary, "rows")
    assert figures.quarantined == _total(summary, "rows_quarantined") + _total(summary, "rows_held_back")
    assert sum(figures.quarantined_by_reason.values()) == figures.quarantined
    record_refusal(stage, ReviewAnswer(at=NOW, timeout="12 h (LEARNOSITY_APPROVAL_TIMEOUT_H)"))

    published = publish_template_report(ledger, stage, out, DAG, "run-1", max_quarantine_share=0.5)
    statement = (
        "no approval within 12 h (LEARNOSITY_APPROVAL_TIMEOUT_H), timed out at 2026-11-22T02:00:00+00:00:"
        " nothing sent"
    )
    assert published.problems[0] == statement and not published.delivered_everything
    assert published.totals["submitted"] == 0
    assert ledger.last_window_end(DAG) is None
    assert statement in (out / "report.html").read_text(encoding="utf-8")
    assert (out / "summary.txt").read_text(encoding="utf-8").startswith(f"N{statement[1:]}; "), "first said"
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.count(f"not sent: {statement}") == figures.sessions, "each staged session says why"
    assert "its submit task failed" not in page
