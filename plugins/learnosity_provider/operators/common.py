"""Helpers shared by the operators."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import Context, ObjectStoragePath
from airflow.sdk.exceptions import AirflowFailException

from learnosity_core.report import RunReport, render_html, summary_lines

log = logging.getLogger(__name__)


def parse_time(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def dag_and_run(context: Context) -> tuple[str, str]:
    return context["dag"].dag_id, context["run_id"]


def publish_report(report: RunReport, out: ObjectStoragePath, on_failure: str) -> str:
    """Write report.html, log the summary, then fail the task if any session failed."""
    path = out / "report.html"
    path.write_text(render_html(report))
    for line in summary_lines(report):
        log.info("%s", line)
    log.info("Report: %s", path)
    if report.failed:
        raise AirflowFailException(f"{report.failed} sessions failed ({on_failure}); see {path}")
    return str(path)
