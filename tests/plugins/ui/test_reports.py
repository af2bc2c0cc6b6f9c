"""A run's report and files through the page: served from its own folder only; a run without a
report gets a page that says why, not a stack trace."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from learnosity_core.delivery.ledger import Ledger, SessionEntry
from learnosity_core.delivery.staging import safe_name

DAG_ID = "learnosity_template_submission"


def _url(run_id: str, tail: str = "report", dag_id: str = DAG_ID) -> str:
    return f"/learnosity/runs/{dag_id}/{quote(run_id, safe='')}/{tail}"


@pytest.fixture
def written(reports: Path, add_run: Callable[..., str]) -> tuple[str, Path]:
    """A finished run whose report task wrote its report, summary and quarantine CSV."""
    run_id = add_run(DAG_ID, "success")
    folder = reports / DAG_ID / safe_name(run_id)
    folder.mkdir(parents=True)
    (folder / "report.html").write_text('<h1>Run report</h1><a href="quarantine.csv">quarantine.csv</a>')
    (folder / "summary.txt").write_text("completed=7\n")
    (folder / "quarantine.csv").write_text("session_id,reason\ns-9,invalid_value\n")
    (reports / DAG_ID / "secret.txt").write_text("another run's file")
    return run_id, folder


def test_the_report_and_its_files_are_served(
    api: Any, auth: dict[str, str], written: tuple[str, Path]
) -> None:
    run_id, _ = written
    report = api.get(_url(run_id), headers=auth)
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    assert "<h1>Run report</h1>" in report.text
    # The report's relative link (quarantine.csv next to .../report) and the files/ address both work.
    for tail in ("quarantine.csv", "files/quarantine.csv"):
        csv = api.get(_url(run_id, tail), headers=auth)
        assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
        assert csv.text == "session_id,reason\ns-9,invalid_value\n"
    summary = api.get(_url(run_id, "files/summary.txt"), headers=auth)
    assert summary.text == "completed=7\n" and summary.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize("name", ["..%2Fsecret.txt", "%2E%2E", "nothing.csv", "..%5Csecret.txt"])
def test_nothing_outside_the_runs_folder_is_served(
    api: Any, auth: dict[str, str], written: tuple[str, Path], name: str
) -> None:
    run_id, _ = written
    response = api.get(_url(run_id, f"files/{name}"), headers=auth)
    assert response.status_code == 404
    assert "another run's file" not in response.text


def test_only_the_pipelines_folders_are_read(api: Any, auth: dict[str, str], reports: Path) -> None:
    (reports / "other_dag" / "r1").mkdir(parents=True)
    (reports / "other_dag" / "r1" / "report.html").write_text("not ours")
    response = api.get(_url("r1", dag_id="other_dag"), headers=auth)
    assert response.status_code == 404 and "not ours" not in response.text
    assert "not a Learnosity pipeline" in response.text


def test_a_run_whose_plan_failed_says_why(
    api: Any, auth: dict[str, str], reports: Path, add_run: Callable[..., str]
) -> None:
    run_id = add_run(DAG_ID, "failed")
    folder = reports / DAG_ID / safe_name(run_id)
    folder.mkdir(parents=True)
    problem = "the plan never ran: param window_start: Input should be a valid datetime"
    outcome = {"dag_id": DAG_ID, "run_id": run_id, "problem": problem}
    (folder / "outcome.json").write_text(json.dumps(outcome))
    response = api.get(_url(run_id), headers=auth)
    assert response.status_code == 200
    assert f"The run wrote no report: {problem}" in response.text
    assert "outcome.json" in response.text  # the files it did write are linked


def test_a_running_run_says_so_with_its_counters(
    api: Any, auth: dict[str, str], reports: Path, ledger: Ledger, add_run: Callable[..., str]
) -> None:
    run_id = add_run(DAG_ID, "running")
    entries = [SessionEntry(f"s{i}", "h", "act-1", f"u{i}") for i in range(3)]
    ledger.stage(DAG_ID, run_id, "b1", entries, data_format="from_template", activity_id="act-1")
    ledger.record_submission("b1", "job-1")
    response = api.get(_url(run_id), headers=auth)
    assert response.status_code == 200
    assert "The run is still going" in response.text
    assert "run progress: 3 sessions planned, 3 sent (100%), 0 completed" in response.text


def test_an_unknown_run_is_a_page_not_a_stack_trace(api: Any, auth: dict[str, str], reports: Path) -> None:
    response = api.get(_url("manual__<img src=x onerror=alert(1)>"), headers=auth)
    assert response.status_code == 404
    assert "Airflow has no such run of this pipeline." in response.text
    assert "<img src=x" not in response.text
    assert "manual__&lt;img src=x onerror=alert(1)&gt;" in response.text


def test_the_report_tasks_extra_link_opens_this_page(
    api: Any, auth: dict[str, str], written: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    from learnosity_provider.links import LearnosityReportLink

    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "")
    key = SimpleNamespace(dag_id=DAG_ID, run_id=written[0], task_id="report")
    response = api.get(LearnosityReportLink().get_link(None, ti_key=key), headers=auth)
    assert response.status_code == 200 and "<h1>Run report</h1>" in response.text
