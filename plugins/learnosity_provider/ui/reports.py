"""GET /learnosity/runs/{dag_id}/{run_id}/report and the run's other files (summary, quarantine
CSV, outcome). Only files directly in the run's report folder are served, by their listed name,
so no path can reach outside it; a run without a report gets a page that says why."""

from __future__ import annotations

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import requires_access_dag
from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.responses import HTMLResponse

from learnosity_core.reporting.render import REPORT_FILE
from learnosity_provider.ui import runs
from learnosity_provider.ui.auth import PIPELINES
from learnosity_provider.ui.links import run_path
from learnosity_provider.ui.pages import page

router = APIRouter(dependencies=[Depends(requires_access_dag("GET", DagAccessEntity.RUN))])

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".json": "application/json",
}


def _pipeline(dag_id: str) -> None:
    """Only the pipelines' own folders: a dag_id is part of the path read."""
    if dag_id not in PIPELINES:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{dag_id} is not a Learnosity pipeline")


@router.get("/runs/{dag_id}/{run_id}/report", response_class=HTMLResponse)
def run_report(request: Request, dag_id: str, run_id: str, session: SessionDep) -> Response:
    _pipeline(dag_id)
    report = runs.report_folder(dag_id, run_id) / REPORT_FILE
    if report.exists():
        return _file(dag_id, run_id, REPORT_FILE)
    run = runs.find_run(session, dag_id, run_id)
    if run is None:
        return page(
            request,
            "no_report.html.j2",
            status_code=status.HTTP_404_NOT_FOUND,
            dag_id=dag_id,
            run_id=run_id,
            reason="Airflow has no such run of this pipeline.",
            progress=None,
            files=[],
            files_url="",
        )
    view = runs.view_of(run)
    root = str(request.scope.get("root_path", "")).rstrip("/")
    return page(
        request,
        "no_report.html.j2",
        dag_id=dag_id,
        run_id=run_id,
        reason=runs.no_report_reason(view),
        progress=view.progress.line() if view.progress else view.progress_error,
        files=runs.report_files(dag_id, run_id),
        files_url=root + run_path(dag_id, run_id) + "/files",
    )


def _file(dag_id: str, run_id: str, name: str) -> Response:
    if name not in runs.report_files(dag_id, run_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{name} is not a file of this run's report")
    content = (runs.report_folder(dag_id, run_id) / name).read_bytes()
    kind = next((t for suffix, t in _TYPES.items() if name.endswith(suffix)), "application/octet-stream")
    headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    if kind == "application/octet-stream":
        headers["Content-Disposition"] = "attachment"
    return Response(content, media_type=kind, headers=headers)


@router.get("/runs/{dag_id}/{run_id}/files/{name}")
def run_file(dag_id: str, run_id: str, name: str) -> Response:
    _pipeline(dag_id)
    return _file(dag_id, run_id, name)


@router.get("/runs/{dag_id}/{run_id}/{name}")
def run_file_beside_report(dag_id: str, run_id: str, name: str) -> Response:
    """The report links its files by bare name (`quarantine.csv`), relative to /report."""
    _pipeline(dag_id)
    return _file(dag_id, run_id, name)
