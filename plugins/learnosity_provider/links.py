"""Operator extra links: the run's report one click from its report task.

Airflow 3 computes a link on the worker when the task ends (failed too) and keeps it in XCom; the
UI only reads it back, so the link works for a report task that failed after writing its report.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperatorLink

from learnosity_provider import resources


class LearnosityReportLink(BaseOperatorLink):
    """'Run report': the HTML report this run wrote, or no link when it wrote none (the plan
    failed before anything was reported)."""

    name = "Run report"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        from learnosity_core.reporting.render import REPORT_FILE

        report = resources.reports_path(ti_key.dag_id, ti_key.run_id) / REPORT_FILE
        return str(report) if report.exists() else ""
