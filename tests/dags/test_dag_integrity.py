"""Every DAG file imports cleanly and follows the project's conventions."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from airflow.models import DagBag
from airflow.sdk import DAG
from airflow.serialization.serialized_objects import LazyDeserializedDAG

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
    # An unanswered review ends before the run's own timeout, so the report can say so.
    assert dag.get_task("review").response_timeout < dag.dagrun_timeout


SCHEDULED = {
    "learnosity_template_submission": "LEARNOSITY_TEMPLATE_CRON",
    "learnosity_template_reconcile": "LEARNOSITY_RECONCILE_CRON",
    "learnosity_failed_submission_replay": "LEARNOSITY_REPLAY_CRON",
}


@pytest.mark.parametrize("dag_id", sorted(SCHEDULED))
def test_unpausing_never_starts_a_past_run(
    dag_id: str, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """What the scheduler computes for a DAG that never ran (the state of a fresh install when it is
    unpaused), through the serialized DAG as the scheduler sees it. A cron firing every minute puts
    "now" within the grace Airflow otherwise gives a just-missed fire time (10%, at least 5 min)."""
    monkeypatch.setenv(SCHEDULED[dag_id], "* * * * *")
    dag = DagBag(dag_folder=str(REPO / "dags" / f"{dag_id}.py")).dags[dag_id]
    scheduler_dag = LazyDeserializedDAG(data=json.loads(json.dumps(LazyDeserializedDAG.from_dag(dag).data)))
    before = datetime.now(UTC)
    first = scheduler_dag.next_dagrun_info(last_automated_run_info=None)
    assert first is not None and first.run_after > before, f"first scheduled run at {first}"


FORM_SECTIONS = {"What to send", "What to check", "Window", "Safety"}


def _required_in_form(param: Any) -> bool:
    """The 3.3 trigger form's rule: a field whose type does not allow null is required."""
    kind = param.schema.get("type")
    return bool(kind) and (not isinstance(kind, list) or "null" not in kind)


@pytest.mark.parametrize(
    "dag_id",
    [
        "learnosity_template_submission",
        "learnosity_template_reconcile",
        "learnosity_failed_submission_replay",
    ],
)
def test_trigger_form_starts_with_dry_run(dagbag: DagBag, dag_id: str) -> None:
    dag = dagbag.dags[dag_id]
    assert next(iter(dag.params)) == "dry_run"
    assert dag.params["dry_run"] is False, "a run from the form sends unless dry run is switched on"


@pytest.mark.parametrize(
    "dag_id",
    [
        "learnosity_template_submission",
        "learnosity_template_reconcile",
        "learnosity_failed_submission_replay",
        "learnosity_connection_check",
    ],
)
def test_trigger_form_explains_itself_and_triggers_with_its_defaults(dagbag: DagBag, dag_id: str) -> None:
    dag: DAG = dagbag.dags[dag_id]
    for name, param in dag.params.items():
        schema = param.schema
        assert schema.get("title") and schema["title"] != name, f"param {name} needs a readable title"
        if name == "dry_run":  # in the section the form opens with, seen without a click
            assert "section" not in schema
        else:
            assert schema.get("section") in FORM_SECTIONS, f"param {name} is in no form section"
        assert "default" in param.description.lower(), f"param {name} does not say what its default does"
        empty = param.value in (None, "", [])
        # The form disables Trigger while a required field is empty: an empty default must allow null.
        assert not (empty and _required_in_form(param)), f"param {name} blocks the Trigger button"


def test_template_dag_shape(dagbag: DagBag) -> None:
    dag = dagbag.dags["learnosity_template_submission"]
    order = [t.task_id for t in dag.topological_sort()]
    assert order == ["plan", "review", "submit", "wait_for_jobs", "record_jobs", "verify", "report"]
    assert dag.get_task("review").plan == "template"
    assert dag.get_task("submit").upstream_task_ids == {"plan", "review"}
    assert dag.get_task("submit").pool == "learnosity_api"
    assert dag.get_task("wait_for_jobs").deferrable is True
    assert dag.params.get_param("batch_size").schema["maximum"] == 50


def test_replay_dag_shape(dagbag: DagBag) -> None:
    dag = dagbag.dags["learnosity_failed_submission_replay"]
    assert [t.task_id for t in dag.topological_sort()] == [
        "plan",
        "review",
        "submit",
        "wait_for_jobs",
        "record_jobs",
        "verify",
        "report",
    ]
    assert dag.get_task("submit").pool == "learnosity_api"
    assert dag.get_task("review").plan == "replay"
    assert set(dag.params) == {
        "source",
        "dry_run",
        "strict",
        "ignore_response_revisions",
        "require_approval",
        "approval_above_sessions",
        "approval_above_quarantine_share",
    }
    assert dag.params["source"] is None, "empty source: the configured landing location"


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
        "review",
        "submit",
        "wait_for_jobs",
        "record_jobs",
        "verify",
        "report",
    ]
