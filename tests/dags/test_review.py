"""Review before sending, end to end: `dag.test()` parks the `review` task awaiting input, and the
answer arrives the way Airflow records one: through the API server's HITL endpoint (what the
Required Actions page calls, here the real FastAPI app in-process on the same metadata database)
or, for no answer, the scheduler's own awaiting-input timeout sweep."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from airflow.utils.state import DagRunState, TaskInstanceState

from learnosity_core.delivery.staging import safe_name

DAG_ID = "learnosity_template_submission"
REVIEW = "review"
REVIEWER = "reviewer"


def _awaiting_run(timeout: float = 180) -> str:
    """The run id of this DAG's `review` task once it awaits input."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with create_session() as session:
            ti = (
                session.query(TaskInstance)
                .filter_by(dag_id=DAG_ID, task_id=REVIEW, state=TaskInstanceState.AWAITING_INPUT)
                .one_or_none()
            )
            if ti is not None:
                return str(ti.run_id)
        time.sleep(0.5)
    raise AssertionError("the review task never waited for input")


class Reviewer:
    """A person answering in Required Actions: the Core API's HITL endpoint, as a signed-in user."""

    def __init__(self) -> None:
        from airflow.api_fastapi.app import create_app, get_auth_manager
        from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
        from fastapi.testclient import TestClient

        self.client = TestClient(create_app(apps="core"))
        token = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username=REVIEWER, role="admin"))
        self.client.headers["Authorization"] = f"Bearer {token}"
        self.request: dict[str, Any] = {}
        self.errors: list[BaseException] = []

    def _path(self, run_id: str) -> str:
        return f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{REVIEW}/-1/hitlDetails"

    def answer(self, option: str | None) -> None:
        """Wait for the request, keep what it shows, then choose `option` (None: never answer)."""
        try:
            run_id = _awaiting_run()
            shown = self.client.get(self._path(run_id))
            assert shown.status_code == 200, shown.text
            self.request = shown.json()
            if option is not None:
                answered = self.client.patch(
                    self._path(run_id), json={"chosen_options": [option], "params_input": {}}
                )
                assert answered.status_code == 200, answered.text
            else:
                _sweep_timeouts(run_id)
        except BaseException as exc:  # surfaced by the test thread
            self.errors.append(exc)


def _sweep_timeouts(run_id: str, timeout: float = 60) -> None:
    """What the scheduler does each loop for tasks awaiting input past their response timeout,
    repeated until this run's review has left AWAITING_INPUT."""
    from airflow.jobs.job import Job
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    scheduler = SchedulerJobRunner(job=Job())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(1)
        scheduler.check_awaiting_input_timeouts()
        with create_session() as session:
            ti = session.query(TaskInstance).filter_by(dag_id=DAG_ID, task_id=REVIEW, run_id=run_id).one()
            if ti.state != TaskInstanceState.AWAITING_INPUT:
                return
    raise AssertionError(f"the review's response timeout did not pass within {timeout:.0f} s")


@pytest.fixture
def answered(run_dag: Callable[..., Any]) -> Iterator[Callable[..., tuple[Any, Reviewer]]]:
    """Run the DAG while a reviewer answers its approval request from another thread."""
    threads: list[threading.Thread] = []

    def run(option: str | None, **conf: Any) -> tuple[Any, Reviewer]:
        reviewer = Reviewer()
        thread = threading.Thread(target=reviewer.answer, args=(option,), daemon=True)
        threads.append(thread)
        thread.start()
        run = run_dag(DAG_ID, **conf)
        thread.join(timeout=30)
        if reviewer.errors:
            raise reviewer.errors[0]
        return run, reviewer

    yield run
    for thread in threads:
        thread.join(timeout=5)


def _states(run: Any) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


def _report_text(pipeline: Any, run: Any) -> str:
    (path,) = pipeline.reports.glob(f"*/{safe_name(run.run_id)}/report.html")
    return str(path.read_text(encoding="utf-8"))


def test_a_plan_above_the_quarantine_threshold_waits_and_a_rejection_sends_nothing(
    sqlite_pipeline: Any, answered: Callable[..., tuple[Any, Reviewer]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIRFLOW_VAR_LEARNOSITY_APPROVAL_ABOVE_QUARANTINE_SHARE")  # the 5% default
    run, reviewer = answered("Reject")

    body = reviewer.request["body"]
    staged = sum(
        1
        for row in sqlite_pipeline.ledger().sessions_of_run(run.dag_id, run.run_id)
        if row.status == "staged"
    )
    assert reviewer.request["subject"] == f"Send {staged} sessions to Learnosity?"
    assert "above approval_above_quarantine_share 5.0%" in body
    for activity in sqlite_pipeline.rows["activity_id"].unique():
        assert f"| {activity} | " in body, "counts per activity"
    assert "**Quarantine reasons:**" in body
    assert f"/learnosity/runs/{DAG_ID}/" in body and "/report)" in body, "links the run's report"

    assert run.state == DagRunState.FAILED, "a rejected run must not look delivered"
    states = _states(run)
    assert states[REVIEW] == TaskInstanceState.SUCCESS
    assert states["submit"] == TaskInstanceState.SKIPPED
    assert states["report"] == TaskInstanceState.FAILED, "the report ran and failed the run"
    assert sqlite_pipeline.stored() == [], "nothing reached the emulator"
    ledger = sqlite_pipeline.ledger()
    assert {row.status for row in ledger.sessions_of_run(run.dag_id, run.run_id)} <= {"staged", "quarantined"}
    assert ledger.last_window_end(DAG_ID) is None, "the window does not move"
    assert f"rejected by {REVIEWER} at " in _report_text(sqlite_pipeline, run)
    assert ": nothing sent" in _report_text(sqlite_pipeline, run)


def test_an_approved_plan_is_sent(
    sqlite_pipeline: Any, answered: Callable[..., tuple[Any, Reviewer]]
) -> None:
    run, reviewer = answered("Approve", require_approval=True)
    assert "require_approval is on" in reviewer.request["body"]
    assert run.state == DagRunState.SUCCESS
    sqlite_pipeline.assert_exactly_once()


def test_no_answer_in_time_sends_nothing_and_says_so(
    sqlite_pipeline: Any, answered: Callable[..., tuple[Any, Reviewer]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEARNOSITY_APPROVAL_TIMEOUT_H", str(1 / 3600))  # one second
    run, _ = answered(None, require_approval=True)
    assert run.state == DagRunState.FAILED
    assert _states(run)["submit"] == TaskInstanceState.SKIPPED
    assert sqlite_pipeline.stored() == []
    text = _report_text(sqlite_pipeline, run)
    assert "no approval within 0.000277778 h (LEARNOSITY_APPROVAL_TIMEOUT_H), timed out at " in text


def test_a_plan_within_the_thresholds_is_sent_without_waiting(
    sqlite_pipeline: Any, run_dag: Callable[..., Any]
) -> None:
    from airflow.models.hitl import HITLDetail

    run = run_dag(DAG_ID)
    assert run.state == DagRunState.SUCCESS
    review = run.get_task_instance(REVIEW)
    assert review.state == TaskInstanceState.SUCCESS
    from airflow.utils.session import create_session

    with create_session() as session:
        assert session.get(HITLDetail, review.id) is None, "no approval was requested"
    sqlite_pipeline.assert_exactly_once()
