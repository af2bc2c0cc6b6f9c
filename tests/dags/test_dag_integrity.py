"""Every DAG file imports cleanly and follows the project's conventions."""

from __future__ import annotations

import pytest
from airflow.models import DagBag

from lrn_testing.airflow_env import REPO


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    return DagBag(dag_folder=str(REPO / "dags"))


def test_no_import_errors(dagbag: DagBag) -> None:
    assert dagbag.import_errors == {}
    assert {
        "learnosity_template_submission",
        "learnosity_template_reconcile",
        "learnosity_failed_submission_replay",
    } <= set(dagbag.dag_ids)


@pytest.mark.parametrize(
    "dag_id",
    [
        "learnosity_template_submission",
        "learnosity_template_reconcile",
        "learnosity_failed_submission_replay",
    ],
)
def test_scheduled_dags_are_safe_to_run_unattended(dagbag: DagBag, dag_id: str) -> None:
    dag = dagbag.dags[dag_id]
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert "learnosity" in dag.tags
    assert dag.doc_md and dag.doc_md.strip().startswith("###")
    assert dag.timetable.can_be_scheduled and dag.timetable.expression  # a real cron schedule
    for name, param in dag.params.items():
        param.resolve()  # every param has a valid default, so scheduled runs need no form
        assert param.description, f"param {name} has no description for the trigger form"
    assert all(t.retries >= 1 for t in dag.tasks)


def test_template_dag_shape(dagbag: DagBag) -> None:
    dag = dagbag.dags["learnosity_template_submission"]
    order = [t.task_id for t in dag.topological_sort()]
    assert order == ["plan", "submit", "wait_for_jobs", "record_jobs", "verify", "report"]
    assert dag.get_task("submit").pool == "learnosity_api"
    assert dag.get_task("wait_for_jobs").deferrable is True
    assert dag.params.get_param("batch_size").schema["maximum"] == 50


def test_replay_dag_shape(dagbag: DagBag) -> None:
    dag = dagbag.dags["learnosity_failed_submission_replay"]
    assert [t.task_id for t in dag.topological_sort()] == [
        "plan",
        "submit",
        "wait_for_jobs",
        "record_jobs",
        "verify",
        "report",
    ]
    assert dag.get_task("submit").pool == "learnosity_api"
    assert set(dag.params) == {"source", "dry_run", "strict", "ignore_response_revisions"}


def test_connection_check_dag_is_manual_and_sends_nothing(dagbag: DagBag) -> None:
    dag = dagbag.dags["learnosity_connection_check"]
    assert dag.timetable.can_be_scheduled is False, "the first-contact check only runs when triggered"
    assert [t.task_id for t in dag.tasks] == ["check"]
    assert dag.doc_md and "Nothing is sent" in dag.doc_md
    for name, param in dag.params.items():
        param.resolve()
        assert param.description and param.schema.get("title"), f"param {name} needs a title and description"


def test_the_reconcile_dag_is_weekly_paused_and_always_reconciles(dagbag: DagBag) -> None:
    dag = dagbag.dags["learnosity_template_reconcile"]
    assert dag.is_paused_upon_creation is True, "off until a deployment with late loads turns it on"
    assert dag.timetable.expression == "0 4 * * 0"
    plan = dag.get_task("plan")
    assert plan.reconcile is True and plan.reconcile_since == "{{ params.reconcile_since }}"
    assert [t.task_id for t in dag.topological_sort()] == [
        "plan",
        "submit",
        "wait_for_jobs",
        "record_jobs",
        "verify",
        "report",
    ]
