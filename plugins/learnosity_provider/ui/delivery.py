"""GET /learnosity/: the pipelines' recent runs with their counts, report links and, for a run
still going, its counters from the ledger."""

from __future__ import annotations

from typing import Any

from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from learnosity_provider.ui import runs
from learnosity_provider.ui.auth import PIPELINES, may_read_runs
from learnosity_provider.ui.links import URL_PREFIX, airflow_run_path, report_path, run_path
from learnosity_provider.ui.pages import page

router = APIRouter()


def _counts(view: runs.RunView) -> str:
    """The report task's totals in a few words (the report has the detail)."""
    if view.outcome is None or not view.outcome.totals:
        return ""
    totals = view.outcome.totals
    if view.dry_run:  # sent nothing: say what it would have sent
        would = totals.get("sessions_staged", totals.get("staged", 0))
        shown = [f"dry run, nothing sent: {would} sessions would be sent"]
    else:
        shown = [f"{view.outcome.delivered} delivered", f"{view.outcome.failed} failed"]
    if view.outcome.held_back:
        shown.append(f"{view.outcome.held_back} held back")
    if totals.get("rejected"):
        shown.append(f"{totals['rejected']} rejected")
    return ", ".join(shown)


def _row(view: runs.RunView, root: str, airflow_root: str) -> dict[str, Any]:
    files = runs.report_files(view.dag_id, view.run_id)
    has_report = "report.html" in files
    return {
        "view": view,
        "counts": _counts(view),
        "airflow_url": airflow_root + airflow_run_path(view.dag_id, view.run_id),
        "report_url": root + report_path(view.dag_id, view.run_id),
        "files_url": root + run_path(view.dag_id, view.run_id) + "/files",
        "files": [name for name in files if name != "report.html"] if has_report else [],
        "reason": "" if has_report else runs.no_report_reason(view),
    }


@router.get("/", response_class=HTMLResponse)
def delivery_page(request: Request, user: GetUserDep, session: SessionDep) -> HTMLResponse:
    """Only the pipelines whose runs this user may read are listed."""
    readable = [dag_id for dag_id in PIPELINES if may_read_runs(user, dag_id)]
    root = str(request.scope.get("root_path", "")).rstrip("/")
    airflow_root = root.removesuffix(URL_PREFIX)
    rows = [_row(view, root, airflow_root) for view in runs.recent_runs(session, readable)]
    return page(request, "delivery.html.j2", runs=rows, learner=None, session=None)
