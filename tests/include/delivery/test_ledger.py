"""The ledger decides what is never sent twice: test it on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from learnosity_core.delivery.ledger import (
    NEVER_SETTLED,
    Ledger,
    PostedBatch,
    SessionEntry,
    SessionOutcome,
    SessionStatus,
    Standing,
    ping_when_idle,
)

DAG_ID = "learnosity_template_submission"


@pytest.fixture(params=["sqlite", "postgres"])
def ledger(
    request: pytest.FixtureRequest,
    tmp_path,
) -> Ledger:
    if request.param == "sqlite":
        return Ledger.from_url(f"sqlite:///{tmp_path / 'ledger.db'}")
    return Ledger.from_url(request.getfixturevalue("postgres_url"))


def _stage(ledger: Ledger, run: str, batch: str, *pairs: tuple[str, str]) -> None:
    entries = [SessionEntry(sid, digest, "act-1", f"user-{sid}") for sid, digest in pairs]
    ledger.stage(DAG_ID, run, batch, entries, data_format="from_template", activity_id="act-1")


def test_only_completed_sessions_with_the_same_content_count_as_delivered(ledger: Ledger) -> None:
    _stage(ledger, "run-1", "b1", ("s1", "h1"), ("s2", "h2"), ("s3", "h3"))
    assert ledger.delivered([("s1", "h1")]) == set()  # staged is not delivered
    ledger.record_submission("b1", "job-1")
    ledger.record_job(
        "job-1",
        "completed",
        [
            SessionOutcome("s1", SessionStatus.COMPLETED),
            SessionOutcome("s2", SessionStatus.FAILED, "invalid_value: bad"),
            SessionOutcome("s3", SessionStatus.COMPLETED),
        ],
    )
    assert ledger.delivered([("s1", "h1"), ("s2", "h2"), ("s3", "changed")]) == {"s1"}


def test_standing_returns_only_the_sessions_not_completed_with_the_same_content(ledger: Ledger) -> None:
    _stage(ledger, "run-1", "b1", ("done", "h1"), ("fixed", "h2"), ("refused", "h3"), ("failed", "h4"))
    _stage(ledger, "run-1", "b2", ("staged", "h6"))
    _stage(ledger, "run-1", "b3", ("refused-again", "h5"))
    ledger.record_submission("b1", "job-1")
    ledger.record_job(
        "job-1",
        "completed",
        [
            SessionOutcome("done", SessionStatus.COMPLETED),
            SessionOutcome("fixed", SessionStatus.COMPLETED),
            SessionOutcome("refused", SessionStatus.REJECTED, "invalid_value: bad"),
            SessionOutcome("failed", SessionStatus.FAILED, "server_error: later"),
        ],
    )
    ledger.record_rejection("b3", "invalid_value: bad")
    contents = {
        "done": "h1",
        "fixed": "h2-corrected",
        "refused": "h3-corrected",
        "refused-again": "h5",
        "failed": "h4",
        "staged": "h6",
        "new": "h7",
    }

    assert ledger.standing(contents) == {
        "fixed": Standing(SessionStatus.COMPLETED, same_content=False),  # a correction
        "refused": Standing(SessionStatus.REJECTED, same_content=False),  # changed: sent again
        "refused-again": Standing(SessionStatus.REJECTED, same_content=True),  # not sent again
        "failed": NEVER_SETTLED,
        "staged": NEVER_SETTLED,
        "new": NEVER_SETTLED,
    }, "'done' completed with this content: left out"


def test_runs_of_two_dags_with_the_same_run_id_stay_apart(ledger: Ledger) -> None:
    """Airflow's run ids are unique per DAG only: both DAGs scheduled at 02:00 share one."""
    run = "scheduled__2026-12-01T02:00:00+00:00"
    ledger.stage("nightly", run, "nightly-b1", [SessionEntry("s1", "h1", "act-1", "u1")], data_format="x")
    ledger.stage("reconcile", run, "reconcile-b1", [SessionEntry("s2", "h2", "act-1", "u2")], data_format="x")
    ledger.record_submission("nightly-b1", "job-1")

    assert [r.session_id for r in ledger.sessions_of_run("nightly", run)] == ["s1"]
    assert [r.session_id for r in ledger.sessions_of_run("reconcile", run)] == ["s2"]
    assert ledger.jobs_of_run("nightly", run) == {"job-1": ["s1"]}
    assert ledger.jobs_of_run("reconcile", run) == {}
    assert ledger.job_statuses("reconcile", run) == {}
    assert [h.dag_id for h in ledger.history(session_id="s2")] == ["reconcile"]


def test_a_batch_with_a_job_reference_is_not_posted_again(ledger: Ledger) -> None:
    _stage(ledger, "run-1", "b1", ("s1", "h1"))
    assert ledger.job_for_batch("b1") is None
    ledger.record_submission("b1", "job-1")
    assert ledger.job_for_batch("b1") == "job-1"
    assert ledger.jobs_of_run(DAG_ID, "run-1") == {"job-1": ["s1"]}
    rows = ledger.sessions_of_run(DAG_ID, "run-1")
    assert [(r.session_id, r.status, r.job_reference) for r in rows] == [("s1", "submitted", "job-1")]


def test_the_posted_batches_of_a_run_say_whether_their_job_was_answered(ledger: Ledger) -> None:
    _stage(ledger, "run-1", "b1", ("s1", "h1"), ("s2", "h2"))
    _stage(ledger, "run-1", "b2", ("s3", "h3"))
    _stage(ledger, "run-1", "b3", ("s4", "h4"))  # not posted
    _stage(ledger, "run-2", "b4", ("s5", "h5"))  # another run
    for batch, job in (("b1", "job-1"), ("b2", "job-2"), ("b4", "job-4")):
        ledger.record_submission(batch, job)
    ledger.record_job("job-2", "completed", [SessionOutcome("s3", SessionStatus.COMPLETED)])
    assert ledger.posted_batches(DAG_ID, "run-1") == {
        "b1": PostedBatch("b1", "job-1", 2, awaits_outcome=True),
        "b2": PostedBatch("b2", "job-2", 1, awaits_outcome=False),
    }
    assert ledger.posted_batches("another_dag", "run-1") == {}


def test_the_status_last_recorded_for_each_job_of_a_run(ledger: Ledger) -> None:
    _stage(ledger, "run-1", "b1", ("s1", "h1"))
    _stage(ledger, "run-1", "b2", ("s2", "h2"))
    _stage(ledger, "run-1", "b3", ("s3", "h3"))  # never submitted: no job
    _stage(ledger, "run-2", "b4", ("s4", "h4"))
    ledger.record_submission("b1", "job-1")
    ledger.record_submission("b2", "job-2")
    ledger.record_submission("b4", "job-4")
    ledger.record_job("job-1", "completed", [SessionOutcome("s1", SessionStatus.COMPLETED)])
    assert ledger.job_statuses(DAG_ID, "run-1") == {"job-1": "completed", "job-2": "queued"}


def test_restaging_a_session_in_a_new_run_replaces_its_state(ledger: Ledger) -> None:
    _stage(ledger, "run-1", "b1", ("s1", "h1"))
    ledger.record_submission("b1", "job-1")
    ledger.record_job("job-1", "completed", [SessionOutcome("s1", SessionStatus.COMPLETED)])
    _stage(ledger, "run-2", "b2", ("s1", "h2"))
    assert ledger.delivered([("s1", "h1")]) == set()
    assert [r.run_id for r in ledger.sessions_of_run(DAG_ID, "run-2")] == ["run-2"]
    assert ledger.sessions_of_run(DAG_ID, "run-1") == []


def test_quarantined_sessions_are_recorded_with_their_reason(ledger: Ledger) -> None:
    ledger.quarantine(DAG_ID, "run-1", "from_template", {"s9": ("act-1", "u9", "invalid_value: row 3 ...")})
    (row,) = ledger.sessions_of_run(DAG_ID, "run-1")
    assert row.status == "quarantined" and row.error.startswith("invalid_value")


def test_window_advances_only_for_finished_runs(ledger: Ledger) -> None:
    end1 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    end2 = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
    ledger.start_run("dag", "r1", None, end1)
    ledger.start_run("dag", "r2", end1, end2)
    assert ledger.last_window_end("dag") is None
    ledger.finish_run("dag", "r1")
    assert ledger.last_window_end("dag") == end1
    assert ledger.last_window_end("other-dag") is None


def test_many_jobs_are_recorded_at_once_with_each_sessions_own_outcome(ledger: Ledger) -> None:
    """Set-based: 1,200 sessions (more than one IN chunk) over three jobs, outcomes mixed."""
    ids = {job: [f"{job}-s{n:04d}" for n in range(400)] for job in ("job-1", "job-2", "job-3")}
    for job, sids in ids.items():
        _stage(ledger, "run-1", f"b-{job}", *((sid, "h") for sid in sids))
        ledger.record_submission(f"b-{job}", job)
    halted = [SessionOutcome(s, SessionStatus.FAILED, "job job-2 halted: quota") for s in ids["job-2"]]
    mixed = [
        SessionOutcome(s, SessionStatus.FAILED, f"bad {n}")
        if n % 100 == 0
        else SessionOutcome(s, SessionStatus.COMPLETED)
        for n, s in enumerate(ids["job-3"])
    ]
    ledger.record_jobs(
        [
            ("job-1", "completed", [SessionOutcome(s, SessionStatus.COMPLETED) for s in ids["job-1"]]),
            ("job-2", "halted", halted),
            ("job-3", "completed", mixed),
        ]
    )
    rows = {r.session_id: r for r in ledger.sessions_of_run(DAG_ID, "run-1")}
    assert {rows[s].status for s in ids["job-1"]} == {SessionStatus.COMPLETED}
    assert {(rows[s].status, rows[s].error) for s in ids["job-2"]} == {
        (SessionStatus.FAILED, "job job-2 halted: quota")
    }
    failed = {s: rows[s].error for s in ids["job-3"] if rows[s].status == SessionStatus.FAILED}
    assert failed == {
        "job-3-s0000": "bad 0",
        "job-3-s0100": "bad 100",
        "job-3-s0200": "bad 200",
        "job-3-s0300": "bad 300",
    }
    assert ledger.job_statuses(DAG_ID, "run-1") == {
        "job-1": "completed",
        "job-2": "halted",
        "job-3": "completed",
    }
    assert [h.status for h in ledger.history(session_id="job-3-s0100")] == ["staged", "submitted", "failed"]


def test_many_verification_results_are_stored_set_based(ledger: Ledger) -> None:
    sids = [f"s{n:04d}" for n in range(1100)]
    _stage(ledger, "run-1", "b1", *((sid, "h") for sid in sids))
    ledger.record_verification(
        {sid: None if n != 777 else "not found on read-back" for n, sid in enumerate(sids)}
    )
    rows = {r.session_id: r for r in ledger.sessions_of_run(DAG_ID, "run-1")}
    assert sum(1 for r in rows.values() if r.verified) == 1099
    assert (rows["s0777"].verified, rows["s0777"].status) == (False, SessionStatus.FAILED)


def test_verification_results_are_stored(ledger: Ledger) -> None:
    _stage(ledger, "run-1", "b1", ("s1", "h1"), ("s2", "h2"))
    ledger.record_verification({"s1": None, "s2": "question q1: value differs on read-back"})
    rows = {r.session_id: r for r in ledger.sessions_of_run(DAG_ID, "run-1")}
    assert rows["s1"].verified is True
    assert rows["s2"].verified is False and "differs" in rows["s2"].error


def test_a_session_that_fails_read_back_is_no_longer_delivered(ledger: Ledger) -> None:
    """A completed job may not say what it stored: read-back decides, and a miss is sent again."""
    _stage(ledger, "run-1", "b1", ("s1", "h1"), ("s2", "h2"), ("s3", "h3"))
    ledger.record_submission("b1", "job-1")
    ledger.record_job(
        "job-1", "completed", [SessionOutcome(s, SessionStatus.COMPLETED) for s in ("s1", "s2", "s3")]
    )
    pairs = [("s1", "h1"), ("s2", "h2"), ("s3", "h3")]
    assert ledger.delivered(pairs) == {"s1", "s2", "s3"}

    ledger.record_verification(
        {"s1": None, "s2": "question q1: value differs on read-back", "s3": "not found on read-back"}
    )
    rows = {r.session_id: r for r in ledger.sessions_of_run(DAG_ID, "run-1")}
    assert (rows["s1"].status, rows["s1"].verified, rows["s1"].error) == (SessionStatus.COMPLETED, True, None)
    assert (rows["s2"].status, rows["s2"].verified, rows["s2"].error) == (
        SessionStatus.FAILED,
        False,
        "question q1: value differs on read-back",
    )
    assert (rows["s3"].status, rows["s3"].error) == (SessionStatus.FAILED, "not found on read-back")
    assert rows["s3"].job_reference == "job-1"
    assert ledger.delivered(pairs) == {"s1"}


def test_a_lease_has_one_holder_until_it_is_released_or_expires(ledger: Ledger) -> None:
    hour = timedelta(hours=1)
    assert ledger.acquire_lease("landing:/srv/drop", "run-a", hour) is None
    assert ledger.acquire_lease("landing:/srv/drop", "run-b", hour) == "run-a"
    assert ledger.acquire_lease("landing:/srv/other", "run-b", hour) is None, "another resource is free"
    assert ledger.acquire_lease("landing:/srv/drop", "run-a", hour) is None, "the holder renews"
    ledger.release_lease("landing:/srv/drop", "run-b")  # not the holder: nothing happens
    assert ledger.acquire_lease("landing:/srv/drop", "run-b", hour) == "run-a"
    ledger.release_lease("landing:/srv/drop", "run-a")
    assert ledger.acquire_lease("landing:/srv/drop", "run-b", hour) is None

    assert ledger.acquire_lease("landing:/srv/crashed", "run-c", timedelta(seconds=-1)) is None
    assert ledger.acquire_lease("landing:/srv/crashed", "run-d", hour) is None, "an expired lease is free"


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_of_many_runs_asking_at_once_exactly_one_gets_the_lease(
    request: pytest.FixtureRequest, tmp_path: Path, database: str
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'shared.db'}"
        if database == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    Ledger.from_url(url)
    start = threading.Barrier(8)
    answers: dict[str, str | None] = {}

    def ask(holder: str) -> None:
        ledger = Ledger.from_url(url)
        start.wait()
        answers[holder] = ledger.acquire_lease("landing:/srv/drop", holder, timedelta(hours=1))

    threads = [threading.Thread(target=ask, args=(f"run-{n}",)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    winners = [h for h, other in answers.items() if other is None]
    assert len(answers) == 8 and len(winners) == 1
    assert {other for other in answers.values() if other is not None} == set(winners)


def test_the_history_keeps_every_delivery_of_a_session_beside_its_correction(ledger: Ledger) -> None:
    first = SessionEntry("s1", "hash-original", "act-1", "learner-7")
    ledger.stage(DAG_ID, "run-1", "run-1/b1", [first], data_format="from_template", activity_id="act-1")
    ledger.record_submission("run-1/b1", "job-1")
    ledger.record_job("job-1", "completed", [SessionOutcome("s1", SessionStatus.COMPLETED)])
    ledger.record_verification({"s1": None})
    corrected = SessionEntry("s1", "hash-corrected", "act-1", "learner-7")
    ledger.stage(DAG_ID, "run-2", "run-2/b1", [corrected], data_format="from_template", activity_id="act-1")
    ledger.record_submission("run-2/b1", "job-2")
    ledger.record_job("job-2", "completed", [SessionOutcome("s1", SessionStatus.FAILED, "halted")])

    history = ledger.history(session_id="s1")
    assert [(h.run_id, h.content_hash, h.job_reference, h.status, h.verified) for h in history] == [
        ("run-1", "hash-original", None, SessionStatus.STAGED, None),
        ("run-1", "hash-original", "job-1", SessionStatus.SUBMITTED, None),
        ("run-1", "hash-original", "job-1", SessionStatus.COMPLETED, None),
        ("run-1", "hash-original", "job-1", SessionStatus.COMPLETED, True),
        ("run-2", "hash-corrected", None, SessionStatus.STAGED, None),
        ("run-2", "hash-corrected", "job-2", SessionStatus.SUBMITTED, None),
        ("run-2", "hash-corrected", "job-2", SessionStatus.FAILED, None),
    ]
    assert history[-1].error == "halted" and history[0].batch_id == "run-1/b1"
    assert ledger.history(user_id="learner-7") == history
    assert ledger.history(user_id="nobody") == []
    with pytest.raises(ValueError, match="session_id or a user_id"):
        ledger.history()


def test_rejections_and_quarantines_are_in_the_history(ledger: Ledger) -> None:
    ledger.stage(DAG_ID, "run-1", "b1", [SessionEntry("s2", "h", "act-1", "u2")], data_format="from_template")
    ledger.record_rejection("b1", "rejected by the Data API: user_id is blank")
    ledger.quarantine(DAG_ID, "run-1", "from_template", {"s3": ("act-1", "u3", "invalid_value: row 4")})
    assert [h.status for h in ledger.history(session_id="s2")] == [
        SessionStatus.STAGED,
        SessionStatus.REJECTED,
    ]
    (quarantined,) = ledger.history(session_id="s3")
    assert (quarantined.status, quarantined.error) == (SessionStatus.QUARANTINED, "invalid_value: row 4")


def test_only_completed_sessions_not_yet_read_back_are_left_to_verify(ledger: Ledger) -> None:
    _stage(ledger, "run-1", "b1", ("s1", "h1"), ("s2", "h2"), ("s3", "h3"), ("blob:ab_c", "h4"))
    _stage(ledger, "run-1", "b2", ("s5", "h5"), ("s6", "h6"))
    _stage(ledger, "run-2", "b3", ("s7", "h7"))
    for batch, job, sids in (("b1", "job-1", ("s1", "s2", "blob:ab_c")), ("b3", "job-3", ("s7",))):
        ledger.record_submission(batch, job)
        ledger.record_job(job, "completed", [SessionOutcome(s, SessionStatus.COMPLETED) for s in sids])
    ledger.record_submission("b2", "job-2")  # still running: nothing to read back
    assert ledger.unverified_of_run(DAG_ID, "run-1", "blob:") == {"b1": {"s1", "s2"}}
    ledger.record_verification({"s1": None})
    assert ledger.unverified_of_run(DAG_ID, "run-1", "blob:") == {"b1": {"s2"}}
    assert ledger.unverified_of_run("another_dag", "run-1", "blob:") == {}


def test_a_staged_run_refreshes_the_planner_statistics(ledger: Ledger) -> None:
    """A fresh run's rows would otherwise be planned as one row until autovacuum comes by."""
    _stage(ledger, "run-1", "b1", *[(f"s{n}", f"h{n}") for n in range(300)])
    ledger.refresh_statistics()
    if ledger.engine.dialect.name != "postgresql":
        return  # SQLite keeps no statistics these queries depend on: nothing to refresh
    with ledger.engine.connect() as conn:
        estimated = dict(
            conn.execute(
                sa.text(
                    "SELECT relname, reltuples FROM pg_class WHERE relname IN"
                    " ('learnosity_ledger_sessions', 'learnosity_ledger_batches')"
                )
            ).all()
        )
    assert estimated == {"learnosity_ledger_sessions": 300, "learnosity_ledger_batches": 1}


def test_unsettled_jobs_are_those_with_a_session_no_answer_settled(ledger: Ledger) -> None:
    _stage(ledger, "run-1", "b1", ("done-1", "h1"), ("done-2", "h2"))
    _stage(ledger, "run-1", "b2", ("done-3", "h3"), ("open", "h4"))
    _stage(ledger, "run-1", "b3", ("halted", "h5"), ("differed", "h6"))
    _stage(ledger, "run-1", "b4", ("never-sent", "h7"))
    for batch, job in (("b1", "job-1"), ("b2", "job-2"), ("b3", "job-3")):
        ledger.record_submission(batch, job)
    ledger.record_job(
        "job-1", "completed", [SessionOutcome(s, SessionStatus.COMPLETED) for s in ("done-1", "done-2")]
    )
    ledger.record_job("job-2", "running", [SessionOutcome("done-3", SessionStatus.COMPLETED)])
    ledger.record_job(
        "job-3",
        "halted",
        [
            SessionOutcome("halted", SessionStatus.FAILED, "halted"),
            SessionOutcome("differed", SessionStatus.COMPLETED),
        ],
    )
    ledger.record_verification({"differed": "responses differ on read-back"})

    jobs = ledger.unsettled_jobs_of_run(DAG_ID, "run-1")

    assert {ref: (sorted(job.session_ids), job.unsettled) for ref, job in jobs.items()} == {
        "job-2": (["done-3", "open"], {"open"}),
        "job-3": (["differed", "halted"], {"halted"}),
    }


def test_a_pooled_connection_closed_while_idle_is_replaced(postgres_url: str) -> None:
    """A connection the server closed (a restart, an idle timeout) while it sat in the pool is
    checked when next taken and replaced; one used moments ago is not pinged."""
    engine = sa.create_engine(postgres_url, pool_size=1, max_overflow=0)
    ping_when_idle(engine, idle_s=0.2)
    with engine.connect() as conn:
        first = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
    with engine.connect() as conn:  # within idle_s: the same connection, unchecked
        assert conn.execute(sa.text("SELECT pg_backend_pid()")).scalar() == first
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        assert conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": first}).scalar()
    admin.dispose()
    time.sleep(0.3)
    with engine.connect() as conn:
        replaced = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
    assert replaced != first
    engine.dispose()
