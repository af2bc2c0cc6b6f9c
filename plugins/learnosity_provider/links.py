"""Operator extra links: the run's report one click from its report task.

Airflow 3 computes a link on the worker when the task ends (failed too) and keeps it in XCom; the
UI only reads it back. The link opens the delivery page's report address in the api-server, which
any machine with Airflow access can reach (a worker's file path could not be opened elsewhere).
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperatorLink, conf

from learnosity_provider.ui.links import URL_PREFIX, report_path


class LearnosityReportLink(BaseOperatorLink):
    """'Run report': this run's report in the delivery page. Always given: for a run that wrote
    no report (its plan failed) the page says why, which a missing link could not."""

    name = "Run report"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        # `[api] base_url` (AIRFLOW__API__BASE_URL) is where browsers reach the api-server; unset,
        # the link is host-relative and opens on the UI's own host.
        base = (conf.get("api", "base_url", fallback="") or "").rstrip("/")
        return f"{base}{URL_PREFIX}{report_path(ti_key.dag_id, ti_key.run_id)}"
