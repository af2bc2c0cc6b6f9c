"""Each job state maps to per-session outcomes, with the job's own reason kept."""

from __future__ import annotations

from learnosity_core.dataapi import Job, JobError, JobResult, JobStatus
from learnosity_core.job_outcomes import session_outcomes
from learnosity_core.ledger import SessionStatus


def _job(status: JobStatus, **data: object) -> Job:
    return Job(reference="j1", status=status, data=JobResult(**data) if data else None)


def test_completed_job_splits_stored_and_rejected_sessions() -> None:
    job = _job(
        JobStatus.COMPLETED,
        sessions_stored=["s1"],
        errors=[JobError(session_id="s2", code="invalid_value", message="mcq value 'x' is not an option")],
    )
    outcomes = {o.session_id: o for o in session_outcomes(job, ["s1", "s2", "s3"], "j1")}
    assert outcomes["s1"].status == SessionStatus.COMPLETED and outcomes["s1"].error is None
    assert outcomes["s2"].status == SessionStatus.FAILED
    assert outcomes["s2"].error == "invalid_value: mcq value 'x' is not an option"
    assert outcomes["s3"].error == "job j1 completed without storing this session"


def test_halted_job_fails_every_session_with_its_reason() -> None:
    outcomes = session_outcomes(_job(JobStatus.HALTED, halt_reason="injected halt"), ["s1", "s2"], "j1")
    assert {o.status for o in outcomes} == {SessionStatus.FAILED}
    assert all(o.error == "job j1 halted: injected halt" for o in outcomes)


def test_unfinished_or_unknown_jobs_fail_their_sessions() -> None:
    (running,) = session_outcomes(_job(JobStatus.RUNNING), ["s1"], "j1")
    assert running.status == SessionStatus.FAILED and "still running when the wait timed out" in str(
        running.error
    )
    (unknown,) = session_outcomes(None, ["s1"], "j9")
    assert unknown.error == "job j9 unknown to the Data API"
