"""A run's counters come from the ledger: planned, sent, completed, failed, verified, rate, time left."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from learnosity_core.delivery.ledger import Ledger, SessionEntry, SessionOutcome, SessionStatus
from learnosity_core.delivery.run_progress import JobsWait, RunProgress, run_progress

DAG_ID = "learnosity_template_submission"


@pytest.fixture(params=["sqlite", "postgres"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Ledger:
    if request.param == "sqlite":
        return Ledger.from_url(f"sqlite:///{tmp_path / 'ledger.db'}")
    return Ledger.from_url(request.getfixturevalue("postgres_url"))


def _stage(ledger: Ledger, run: str, batch: str, *sessions: str) -> None:
    entries = [SessionEntry(sid, f"h-{sid}", "act-1", f"user-{sid}") for sid in sessions]
    ledger.stage(DAG_ID, run, batch, entries, data_format="from_template", activity_id="act-1")


def test_sessions_are_counted_by_how_far_they_got(ledger: Ledger) -> None:
    _stage(ledger, "run-1", "b1", "s1", "s2", "s3")
    _stage(ledger, "run-1", "b2", "s4", "s5")
    _stage(ledger, "run-1", "b3", "s6")
    _stage(ledger, "run-other", "x1", "o1")
    ledger.quarantine(DAG_ID, "run-1", "from_template", {"q1": ("act-1", "user-q1", "invalid_value")})
    ledger.record_submission("b1", "job-1")
    ledger.record_submission("b2", "job-2")
    ledger.record_job(
        "job-1",
        "completed",
        [
            SessionOutcome("s1", SessionStatus.COMPLETED),
            SessionOutcome("s2", SessionStatus.COMPLETED),
            SessionOutcome("s3", SessionStatus.FAILED, "invalid_value"),
        ],
    )
    ledger.record_verification({"s1": None, "s2": "read-back differed"})

    progress = run_progress(ledger, DAG_ID, "run-1")

    # s2 differed on read-back, so it is failed now; q1 was held back and is not planned.
    assert progress.model_dump(exclude={"first_sent_at"}) == {
        "planned": 6,
        "sent": 5,
        "completed": 1,
        "failed": 2,
        "verified": 1,
    }
    assert progress.first_sent_at is not None and progress.first_sent_at.tzinfo is not None
    line = progress.line(progress.first_sent_at + timedelta(seconds=10))
    assert line.startswith(
        "run progress: 6 sessions planned, 5 sent (83%), 1 completed, 2 failed, 1 verified"
    )
    assert "0.5 sessions/s, about 2 s left to send" in line


def test_a_run_with_nothing_staged_says_there_is_nothing_to_send(ledger: Ledger) -> None:
    progress = run_progress(ledger, DAG_ID, "dry-run")
    assert progress == RunProgress()
    assert progress.line() == "run progress: nothing to send"
    assert "nan" not in progress.line()


def test_before_the_first_batch_is_sent_the_time_left_is_not_guessed(ledger: Ledger) -> None:
    _stage(ledger, "run-1", "b1", "s1")
    line = run_progress(ledger, DAG_ID, "run-1").line()
    assert line == (
        "run progress: 1 sessions planned, 0 sent (0%), 0 completed, 0 failed, 0 verified;"
        " not known until the first batch is sent"
    )


def test_long_waits_are_said_in_minutes_and_hours() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    later = start + timedelta(seconds=100)  # 1,000 sent in 100 s: 10 sessions/s
    assert RunProgress(planned=10_000, sent=1_000, first_sent_at=start).time_left(later) == (
        "about 15 min left to send"
    )
    assert RunProgress(planned=100_000, sent=1_000, first_sent_at=start).time_left(later) == (
        "about 2 h 45 min left to send"
    )
    assert RunProgress(planned=5, sent=5, first_sent_at=start).time_left(later) == "all sent"
    assert (
        RunProgress(planned=5, sent=5, first_sent_at=start)
        .line(later)
        .endswith("5 sent (100%), 0 completed, 0 failed, 0 verified; all sent")
    )


def test_the_wait_counts_sessions_by_the_jobs_that_finished() -> None:
    wait = JobsWait(planned=9, job_sessions={"j1": 5, "j2": 3}, finished_jobs=["j1", "j1"])
    assert wait.line(rate=None) == (
        "run progress: 9 sessions planned, 8 sent; 1 of 2 jobs finished, 5 sessions processed (62%);"
        " time left not known until a job finishes"
    )
    assert wait.line(rate=0.1).endswith("0.1 sessions/s, about 30 s left")
    wait.finished_jobs = ["j1", "j2"]
    assert wait.line(rate=2.0).endswith("8 sessions processed (100%); every job finished")
    assert JobsWait(planned=0, job_sessions={}).line(rate=None) == "run progress: nothing to send"
