"""`LearnosityRecordJobsOperator.execute`: the run's jobs read from the emulator, outcomes in the ledger."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from learnosity_devtools.emulator import EmulatorConfig, EmulatorServer, Faults
from learnosity_provider.operators.failed_submission import LearnosityReplayPlanOperator
from learnosity_provider.operators.jobs import LearnosityRecordJobsOperator
from learnosity_provider.operators.template_submission import LearnosityTemplatePlanOperator

DAG_ID = "learnosity_template_submission"
RUN = "manual__2026-12-01T02:00:00+00:00"
KEY = "emulatordemokey1"
SECRET = "emulator-demo-secret"


def _plan_and_submit(deployment: Any, run_id: str = RUN, **params: Any) -> list[dict[str, Any]]:
    shards = LearnosityTemplatePlanOperator(task_id="plan", **params).execute(
        deployment.context(DAG_ID, run_id)
    )
    submitted: list[dict[str, Any]] = deployment.submit(shards)
    return submitted


def _record(deployment: Any, run_id: str = RUN) -> dict[str, int]:
    recorded: dict[str, int] = LearnosityRecordJobsOperator(task_id="record_jobs").execute(
        deployment.context(DAG_ID, run_id)
    )
    return recorded


def _references(submitted: list[dict[str, Any]]) -> list[str]:
    return [ref for result in submitted for ref in result["job_references"]]


def test_every_session_of_the_runs_jobs_gets_its_outcome(deployment: Any) -> None:
    submitted = _plan_and_submit(deployment, batch_size=6)
    deployment.wait_for_jobs()

    recorded = _record(deployment)

    valid = len(deployment.valid_sessions())
    assert recorded == {"jobs": len(_references(submitted)), "completed": valid, "failed": 0}
    assert deployment.statuses(DAG_ID, RUN)["completed"] == valid
    assert "submitted" not in deployment.statuses(DAG_ID, RUN)
    completed = [r for r in deployment.sessions_of_run(DAG_ID, RUN) if r.status == "completed"]
    assert {r.job_reference for r in completed} == set(_references(submitted))
    assert all(r.error is None for r in completed)


def test_a_run_without_jobs_records_nothing_and_leaves_other_runs_alone(deployment: Any) -> None:
    _plan_and_submit(deployment, "manual__other-run")
    deployment.wait_for_jobs()

    assert _record(deployment, "manual__nothing-sent") == {"jobs": 0, "completed": 0, "failed": 0}
    assert deployment.statuses(DAG_ID, "manual__other-run")["submitted"] == len(deployment.valid_sessions())


def test_a_halted_job_fails_each_of_its_sessions_with_the_reason(deployment: Any) -> None:
    deployment.emulator.set_faults(Faults(halt_jobs=1))
    submitted = _plan_and_submit(deployment, batch_size=50, max_shards=1)
    deployment.wait_for_jobs()

    recorded = _record(deployment)

    failed = [r for r in deployment.sessions_of_run(DAG_ID, RUN) if r.status == "failed"]
    assert recorded["jobs"] == len(_references(submitted)) > 1
    assert recorded["failed"] == len(failed) > 0
    assert recorded["completed"] + recorded["failed"] == len(deployment.valid_sessions())
    assert len({r.job_reference for r in failed}) == 1, "one job halted, all its sessions failed"
    assert all(f"job {r.job_reference} halted: " in (r.error or "") for r in failed)


def test_jobs_the_data_api_does_not_know_fail_their_sessions(deployment: Any) -> None:
    submitted = _plan_and_submit(deployment)
    deployment.wait_for_jobs()
    deployment.emulator.reset()  # Learnosity forgot every job

    recorded = _record(deployment)

    assert recorded == {
        "jobs": len(_references(submitted)),
        "completed": 0,
        "failed": len(deployment.valid_sessions()),
    }
    errors = {r.error for r in deployment.sessions_of_run(DAG_ID, RUN) if r.status == "failed"}
    assert errors == {f"job {ref} unknown to the Data API" for ref in _references(submitted)}


def test_recording_before_the_jobs_finish_fails_them_and_a_later_record_completes_them(
    deployment: Any, tmp_path: Path, learnosity_env: Callable[..., str]
) -> None:
    config = EmulatorConfig(port=0, db_path=tmp_path / "slow.db", consumers={KEY: SECRET}, job_delay_s=3.0)
    with EmulatorServer(config) as slow:
        learnosity_env(host=slow.url, login=KEY, password=SECRET)
        started = time.monotonic()
        _plan_and_submit(deployment, activity_ids=["demo-biology-cells-u3"])

        early = _record(deployment)
        assert time.monotonic() - started < 3.0, "recorded before the emulator finished the jobs"

        failed = [r for r in deployment.sessions_of_run(DAG_ID, RUN) if r.status == "failed"]
        assert early["failed"] == len(failed) > 0 and early["completed"] == 0
        assert all("when the wait timed out" in (r.error or "") for r in failed)

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (
            slow.stats()["jobs"]["queued"] or slow.stats()["jobs"]["running"]
        ):
            time.sleep(0.05)
        late = _record(deployment)

    assert late == {"jobs": early["jobs"], "completed": early["failed"], "failed": 0}
    assert all(r.error is None for r in deployment.sessions_of_run(DAG_ID, RUN) if r.status == "completed")


def test_a_replay_run_with_the_same_run_id_is_not_recorded_as_this_runs_jobs(
    deployment: Any, landing: Path
) -> None:
    run_id = "scheduled__2026-12-01T02:00:00+00:00"
    replay = deployment.context("learnosity_failed_submission_replay", run_id)
    deployment.submit(LearnosityReplayPlanOperator(task_id="plan").execute(replay))
    submitted = _plan_and_submit(deployment, run_id, activity_ids=["demo-biology-cells-u3"])
    deployment.wait_for_jobs()

    recorded = _record(deployment, run_id)

    biology = {key for key in deployment.valid_sessions() if key[0] == "demo-biology-cells-u3"}
    assert recorded == {"jobs": len(_references(submitted)), "completed": len(biology), "failed": 0}
