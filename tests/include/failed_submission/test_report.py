"""The replay report: counts from the plan and the ledger; only completed sessions' files move on."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from learnosity_core.dataapi import DataApiClient
from learnosity_core.delivery.job_outcomes import record_jobs
from learnosity_core.delivery.ledger import Ledger, SessionOutcome, SessionStatus
from learnosity_core.delivery.review import ReviewAnswer, record_refusal
from learnosity_core.delivery.staging import read_batch, read_plan_summary, read_shard
from learnosity_core.delivery.submission import submit_shard
from learnosity_core.failed_submission.blob import encode_failed_session
from learnosity_core.failed_submission.plan import ReplaySummary, plan_replay
from learnosity_core.failed_submission.report import (
    REPLAY_COLUMNS,
    build_replay_report,
    publish_replay_report,
)
from learnosity_core.reporting.report import lookup_url
from learnosity_devtools.emulator import EmulatorServer, Faults
from learnosity_devtools.emulator.seed import demo_templates
from learnosity_devtools.sample_data import sample_blob_session

DAG = "learnosity_failed_submission_replay"
ACTIVITY = "demo-biology-cells-u3"


def _blob(user: str, revision: int = 2, saved: str = "2026-11-21T10:00:00") -> str:
    template = demo_templates()[ACTIVITY]
    return encode_failed_session(sample_blob_session(template, ACTIVITY, user, revision, saved))


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    """Three good blobs, an older copy of the first, and one that is not base64."""
    folder = tmp_path / "landing"
    folder.mkdir()
    for n in range(3):
        (folder / f"session-{n}.txt").write_text(_blob(f"online-{n}"), encoding="ascii")
    (folder / "session-0-older.txt").write_text(
        _blob("online-0", revision=1, saved="2026-11-21T09:00:00"), encoding="ascii"
    )
    (folder / "broken.txt").write_text("this is not base64!", encoding="ascii")
    return folder


def _plan(
    tmp_path: Path,
    landing: Path,
    ledger: Ledger,
    table: list[tuple[str, str]] | None = None,
    dry_run: bool = False,
) -> tuple[ReplaySummary, Path, Path]:
    stage = tmp_path / "stage" / "run-1"
    out = tmp_path / "reports" / "run-1"
    stage.mkdir(parents=True)
    out.mkdir(parents=True)
    summary = plan_replay(landing, table or [], ledger, stage, DAG, "run-1", dry_run=dry_run, settle_s=0)
    return summary, stage, out


def _send_and_record(client: DataApiClient, ledger: Ledger, stage: Path, summary: ReplaySummary) -> None:
    references = [
        r for shard in summary.shards for r in submit_shard(client, ledger, stage, shard).job_references
    ]
    deadline = time.monotonic() + 10.0
    while not all(job.status.is_terminal for job in client.get_jobs(references)):
        assert time.monotonic() < deadline, "jobs did not finish"
        time.sleep(0.02)
    record_jobs(client, ledger, DAG, summary.run_id, stage)


def _bar(page: str, chart: str, label: str) -> int:
    """The value printed beside one bar of one chart of the rendered page."""
    section = page.split(f"<figcaption>{chart}</figcaption>", 1)[1].split("</figure>", 1)[0]
    found = re.search(
        rf'<div class="label" role="rowheader">{re.escape(label)}</div>'
        r'.*?<div class="value" role="cell">([\d,]+)</div>',
        section,
        re.S,
    )
    assert found, f"no bar {label!r} in chart {chart!r}"
    return int(found.group(1).replace(",", ""))


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.exists() else []


def _blob_files(folder: Path) -> list[str]:
    return [name for name in _files(folder) if not name.endswith(".reason.txt")]


def _unidentified(user: str) -> str:
    """Session data naming no session, user or activity (responses only)."""
    template = demo_templates()[ACTIVITY]
    doc = sample_blob_session(template, ACTIVITY, user, 2, "2026-11-21T10:00:00")
    return encode_failed_session({"responses": doc["responses"]})


def test_the_files_of_completed_sessions_move_to_processed(
    tmp_path: Path, client: DataApiClient, ledger: Ledger, landing: Path
) -> None:
    summary, stage, out = _plan(tmp_path, landing, ledger)
    assert summary.staged == 3
    _send_and_record(client, ledger, stage, summary)

    published = publish_replay_report(ledger, stage, landing, out, DAG, "run-1")
    assert _files(landing / "processed") == ["session-0.txt", "session-1.txt", "session-2.txt"]
    assert _files(landing) == []  # the broken and the older copy moved during planning
    assert _files(landing / "quarantine") == ["broken.txt", "broken.txt.reason.txt"]
    assert _files(landing / "duplicates") == ["session-0-older.txt", "session-0-older.txt.reason.txt"]
    assert published.totals == {
        "found": 5,
        "waiting": 0,
        "skipped": 0,
        "invalid": 1,
        "duplicates": 1,
        "already_delivered": 0,
        "staged": 3,
        "submitted": 3,
        "completed": 3,
        "rejected": 0,
        "failed": 0,
        "verified": 0,  # no read-back in this test
    }
    assert list(published.totals) == REPLAY_COLUMNS and published.failed == 0
    assert published.report == str(out / "report.html")
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "not_base64" in page and "No session failed." in page and str(landing) in page
    assert (
        'id="summary">3 sessions delivered; 1 duplicate set aside; 1 invalid blob quarantined:'
        ' <a href="#quarantine">see the list</a>.</p>'
    ) in page
    assert (out / "summary.txt").read_text(encoding="utf-8").startswith("3 sessions delivered; 1 duplicate")
    for name in ("session-0.txt", "session-1.txt", "session-2.txt"):
        assert f"<tr><td>{name} (session " in page  # every file is named with what became of it
    assert page.count("delivered, moved to processed/") == 3
    assert '<tr><td>broken.txt</td><td class="text">invalid, moved to quarantine/: not_base64:' in page
    assert "The text is not base64" in page and "Ask the learner or school for the string again" in page
    assert _bar(page, "Files and table rows by outcome", "sent") == 3
    assert _bar(page, "Invalid blobs by reason", "not_base64") == 1
    assert _bar(page, "Sessions by status", "completed") == 3


def test_the_files_of_failed_sessions_stay_for_the_next_run(
    tmp_path: Path, client: DataApiClient, emulator: EmulatorServer, ledger: Ledger, landing: Path
) -> None:
    summary, stage, out = _plan(tmp_path, landing, ledger)
    emulator.set_faults(Faults(halt_jobs=1))  # the one job of the run halts, storing nothing
    _send_and_record(client, ledger, stage, summary)

    published = publish_replay_report(ledger, stage, landing, out, DAG, "run-1")
    assert _files(landing) == ["session-0.txt", "session-1.txt", "session-2.txt"]
    assert _files(landing / "processed") == []
    assert published.failed == 3 and published.totals["completed"] == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    for session_id, source in summary.sources.items():
        link = f'<a class="history" href="/learnosity/lookup?session={session_id}">'
        assert f"{link}{source.name} (session {session_id})</a>" in page
        assert (
            f'<tr><td>{source.name} (session {session_id})</td><td class="text">not delivered, kept' in page
        )
    assert "halted" in page and "Learnosity halted the job that carried it" in page
    assert '3 sessions failed: <a href="#failures">see the list</a>' in page


def test_only_the_completed_ones_move_when_a_job_is_partly_stored(
    tmp_path: Path, ledger: Ledger, landing: Path
) -> None:
    summary, stage, out = _plan(tmp_path, landing, ledger)
    (batch,) = [read_batch(stage, n) for s in summary.shards for n in read_shard(stage, s.shard)]
    done, *rejected = batch.session_ids
    ledger.record_submission(batch.batch_id, "job-1")
    ledger.record_job(
        "job-1",
        "completed",
        [SessionOutcome(done, SessionStatus.COMPLETED)]
        + [SessionOutcome(sid, SessionStatus.FAILED, "invalid_response: test") for sid in rejected],
    )

    published = publish_replay_report(ledger, stage, landing, out, DAG, "run-1")
    assert _files(landing / "processed") == [summary.sources[done].name]
    names = sorted(summary.sources[sid].name for sid in rejected)
    assert _blob_files(landing / "quarantine") == ["broken.txt", *names], "the job's reason, not ours"
    for name in names:
        assert (landing / "quarantine" / f"{name}.reason.txt").read_text() == (
            "invalid_response: test (Learnosity job job-1)\n"
        )
    assert (published.totals["completed"], published.totals["rejected"], published.totals["failed"]) == (
        1,
        2,
        0,
    )
    assert published.failed == 0, "a blob Learnosity refused is quarantined and explained, like ours"


def test_a_halted_job_or_a_read_back_miss_is_no_rejection(
    tmp_path: Path, ledger: Ledger, landing: Path
) -> None:
    summary, stage, out = _plan(tmp_path, landing, ledger)
    (batch,) = [read_batch(stage, n) for s in summary.shards for n in read_shard(stage, s.shard)]
    halted, missing, *_ = batch.session_ids
    ledger.record_submission(batch.batch_id, "job-1")
    ledger.record_job(
        "job-1", "completed", [SessionOutcome(sid, SessionStatus.COMPLETED) for sid in batch.session_ids]
    )
    ledger.record_verification({missing: "not found on read-back"})
    ledger.record_job(
        "job-1", "halted", [SessionOutcome(halted, SessionStatus.FAILED, "job job-1 halted: x")]
    )

    published = publish_replay_report(ledger, stage, landing, out, DAG, "run-1")
    assert _files(landing) == sorted([summary.sources[halted].name, summary.sources[missing].name])
    assert (published.totals["rejected"], published.failed) == (0, 2)


def test_a_dry_run_moves_nothing(tmp_path: Path, ledger: Ledger, landing: Path) -> None:
    before = _files(landing)
    summary, stage, out = _plan(tmp_path, landing, ledger, dry_run=True)
    published = publish_replay_report(ledger, stage, landing, out, DAG, "run-1")

    assert _files(landing) == before
    assert not (landing / "processed").exists() and not (landing / "quarantine").exists()
    assert published.totals["found"] == 5 and published.totals["submitted"] == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "dry run: nothing was sent" in page
    assert 'id="summary">Dry run, nothing sent or moved: 3 blobs would be sent;' in page
    assert _bar(page, "Files and table rows by outcome", "would be sent") == 3
    assert "Dry run: no session was sent." in page
    assert summary.sources == {}


def test_publishing_twice_moves_each_file_once(
    tmp_path: Path, client: DataApiClient, ledger: Ledger, landing: Path
) -> None:
    summary, stage, out = _plan(tmp_path, landing, ledger)
    _send_and_record(client, ledger, stage, summary)
    first = publish_replay_report(ledger, stage, landing, out, DAG, "run-1")
    again = publish_replay_report(ledger, stage, landing, out, DAG, "run-1")  # a retried report task
    assert again.totals == first.totals
    assert len(_files(landing / "processed")) == 3


def test_table_blobs_are_reported_but_have_no_file_to_move(
    tmp_path: Path, client: DataApiClient, ledger: Ledger
) -> None:
    empty = tmp_path / "landing"
    summary, stage, out = _plan(
        tmp_path, empty, ledger, table=[("row-7", _blob("online-7")), ("row-8", "%%")]
    )
    _send_and_record(client, ledger, stage, summary)

    published = publish_replay_report(ledger, stage, empty, out, DAG, "run-1")
    assert (published.totals["found"], published.totals["invalid"], published.totals["completed"]) == (
        2,
        1,
        1,
    )
    assert not empty.exists()  # nothing created in a landing folder that was never there


def test_build_replay_report_counts_only_failed_submission_sessions(
    tmp_path: Path, ledger: Ledger, landing: Path
) -> None:
    summary, stage, _ = _plan(tmp_path, landing, ledger)
    (batch,) = [read_batch(stage, n) for s in summary.shards for n in read_shard(stage, s.shard)]
    ledger.record_submission(batch.batch_id, "job-1")
    ledger.quarantine(DAG, "run-1", "from_template", {"other": ("act", "u", "unknown_question: x")})

    report = build_replay_report(
        DAG, read_plan_summary(stage, ReplaySummary), ledger.sessions_of_run(DAG, "run-1")
    )
    (group,) = report.groups
    assert group.counts == {
        "found": 5,
        "waiting": 0,
        "skipped": 0,
        "invalid": 1,
        "duplicates": 1,
        "already_delivered": 0,
        "staged": 3,
        "submitted": 3,
        "completed": 0,
        "rejected": 0,
        "failed": 3,  # submitted, outcome never recorded: not delivered
        "verified": 0,  # no read-back in this test
    }
    assert report.reasons == {"not_base64": 1}
    assert report.window == f"landing location {landing}"
    assert [failure.error for failure in report.failures] == [
        "submitted, but its job's outcome was never recorded (the wait failed)"
    ] * 3
    assert report.failed == 3


def test_a_blob_learnosity_rejects_moves_to_quarantine_with_the_jobs_reason(
    tmp_path: Path, client: DataApiClient, ledger: Ledger, landing: Path
) -> None:
    (landing / "anonymous.txt").write_text(_unidentified("online-9"), encoding="ascii")
    summary, stage, out = _plan(tmp_path, landing, ledger)
    assert summary.staged == 4
    _send_and_record(client, ledger, stage, summary)  # the emulator cannot store what names no session

    published = publish_replay_report(ledger, stage, landing, out, DAG, "run-1")
    assert _files(landing) == []
    assert _blob_files(landing / "processed") == ["session-0.txt", "session-1.txt", "session-2.txt"]
    assert _blob_files(landing / "quarantine") == ["anonymous.txt", "broken.txt"]
    reason = (landing / "quarantine" / "anonymous.txt.reason.txt").read_text()
    assert reason.startswith("missing_identity: the session data names no session_id"), "the emulator's words"
    assert (published.totals["rejected"], published.totals["completed"], published.failed) == (1, 3, 0)
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "anonymous.txt" in page and "rejected by Learnosity, moved to quarantine/" in page
    (refused,) = [r for r in ledger.sessions_of_run(DAG, "run-1") if r.status != SessionStatus.COMPLETED]
    link = f'href="{lookup_url(refused.session_id)}">anonymous.txt</a></td><td class="bad">rejected'
    assert link in page and "%3A" in link  # the stand-in id "blob:..." is URL-encoded
    assert "sent with a warning: missing_identity: found no non-blank session_id" in page


@pytest.mark.parametrize("emulator_job_detail", [False], ids=["documented-jobs"])
def test_documented_jobs_settle_a_blob_naming_no_session_by_their_status(
    tmp_path: Path, client: DataApiClient, ledger: Ledger, landing: Path
) -> None:
    """The documented answer names no session; with no session id to read back, the job's status is all."""
    (landing / "anonymous.txt").write_text(_unidentified("online-9"), encoding="ascii")
    summary, stage, out = _plan(tmp_path, landing, ledger)
    _send_and_record(client, ledger, stage, summary)
    published = publish_replay_report(ledger, stage, landing, out, DAG, "run-1")
    assert "anonymous.txt" in _files(landing / "processed")
    assert (published.totals["completed"], published.totals["rejected"]) == (4, 0)


def test_the_per_file_list_is_capped_but_the_counts_are_not(tmp_path: Path, ledger: Ledger) -> None:
    from learnosity_core.failed_submission.report import MAX_NOTES

    summary = ReplaySummary(
        run_id="run-1",
        dry_run=True,
        found=MAX_NOTES + 3,
        warnings=[(f"f{n}.txt", "missing_identity: x") for n in range(MAX_NOTES + 3)],
        warnings_by_code={"missing_identity": MAX_NOTES + 3},
    )
    report = build_replay_report(DAG, summary, [])
    assert len(report.per_file) == MAX_NOTES + 1 and report.per_file[-1] == ("...", "3 more not listed")
    assert report.warnings == {"missing_identity": MAX_NOTES + 3}


def test_an_empty_landing_folder_says_nothing_to_report(tmp_path: Path, ledger: Ledger) -> None:
    empty = tmp_path / "landing"
    empty.mkdir()
    _, stage, out = _plan(tmp_path, empty, ledger)
    publish_replay_report(ledger, stage, empty, out, DAG, "run-1", ignore_response_revisions=True)
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Nothing to report: the landing location (and table) held no blob." in page
    assert "<svg" not in page
    assert "ignore_response_revisions was ON for this run" in page


def test_a_replay_refused_at_review_moves_no_sent_file_and_its_report_says_why(
    tmp_path: Path, ledger: Ledger, landing: Path
) -> None:
    summary, stage, out = _plan(tmp_path, landing, ledger)
    figures = summary.review_figures()
    assert (figures.read, figures.quarantined, figures.sessions, figures.unit) == (5, 1, 3, "blobs")
    assert figures.quarantined_by_reason == summary.invalid_by_reason
    record_refusal(stage, ReviewAnswer(rejected_by="ana", at=datetime(2026, 12, 2, 18, 30, tzinfo=UTC)))

    published = publish_replay_report(ledger, stage, landing, out, DAG, "run-1")
    statement = "rejected by ana at 2026-12-02T18:30:00+00:00: nothing sent"
    assert published.problems[0] == statement and not published.delivered_everything
    assert published.totals["submitted"] == 0
    assert _files(landing) == ["session-0.txt", "session-1.txt", "session-2.txt"], "left for the next run"
    assert statement in (out / "report.html").read_text(encoding="utf-8")
    assert (out / "summary.txt").read_text(encoding="utf-8").startswith(f"R{statement[1:]}; "), "first said"
