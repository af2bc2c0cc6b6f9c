"""The report task's extra link: the run's report page in the api-server's delivery page."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from learnosity_provider.links import LearnosityReportLink
from learnosity_provider.operators.failed_submission import LearnosityReplayReportOperator
from learnosity_provider.operators.template_submission import LearnosityTemplateReportOperator

KEY = SimpleNamespace(dag_id="some_dag", run_id="manual__2026-01-01T02:00:00+00:00", task_id="report")
PATH = "/learnosity/runs/some_dag/manual__2026-01-01T02%3A00%3A00%2B00%3A00/report"


@pytest.mark.parametrize(
    ("base_url", "link"),
    [
        ("https://airflow.example.org", f"https://airflow.example.org{PATH}"),
        ("https://example.org/airflow/", f"https://example.org/airflow{PATH}"),
        ("", PATH),  # unset: host-relative, opens on the UI's own host
    ],
)
def test_link_opens_the_runs_report_page_in_the_api_server(
    monkeypatch: pytest.MonkeyPatch, base_url: str, link: str
) -> None:
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", base_url)
    assert LearnosityReportLink().get_link(None, ti_key=KEY) == link


@pytest.mark.parametrize("operator", [LearnosityTemplateReportOperator, LearnosityReplayReportOperator])
def test_both_report_tasks_carry_the_link(operator: type) -> None:
    assert [link.name for link in operator.operator_extra_links] == ["Run report"]
