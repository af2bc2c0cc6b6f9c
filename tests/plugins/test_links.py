"""The report task's extra link: the run's report, or none when the run wrote none."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from learnosity_core.delivery.staging import safe_name
from learnosity_provider.links import LearnosityReportLink
from learnosity_provider.operators.failed_submission import LearnosityReplayReportOperator
from learnosity_provider.operators.template_submission import LearnosityTemplateReportOperator


@pytest.fixture
def reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AIRFLOW_VAR_LEARNOSITY_REPORTS_PATH", tmp_path.as_uri())
    return tmp_path


def test_link_opens_the_report_this_run_wrote(reports: Path) -> None:
    run_id = "manual__2026-01-01T02:00:00+00:00"
    page = reports / "some_dag" / safe_name(run_id) / "report.html"
    page.parent.mkdir(parents=True)
    page.write_text("<html></html>")
    key = SimpleNamespace(dag_id="some_dag", run_id=run_id, task_id="report")
    link = LearnosityReportLink().get_link(None, ti_key=key)
    assert link == page.as_uri()


def test_no_link_when_the_run_wrote_no_report(reports: Path) -> None:
    key = SimpleNamespace(dag_id="some_dag", run_id="manual__plan_failed", task_id="report")
    assert LearnosityReportLink().get_link(None, ti_key=key) == ""


@pytest.mark.parametrize("operator", [LearnosityTemplateReportOperator, LearnosityReplayReportOperator])
def test_both_report_tasks_carry_the_link(operator: type) -> None:
    assert [link.name for link in operator.operator_extra_links] == ["Run report"]
