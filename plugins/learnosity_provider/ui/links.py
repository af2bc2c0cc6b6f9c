"""Where the delivery page's own pages are, as host-relative paths (the UI and the extra link
prefix them with the api-server's address)."""

from __future__ import annotations

from urllib.parse import quote

URL_PREFIX = "/learnosity"


def run_path(dag_id: str, run_id: str) -> str:
    """The run's folder in the app: run ids hold ':' and '+', so both parts are escaped."""
    return f"/runs/{quote(dag_id, safe='')}/{quote(run_id, safe='')}"


def report_path(dag_id: str, run_id: str) -> str:
    return f"{run_path(dag_id, run_id)}/report"


def airflow_run_path(dag_id: str, run_id: str) -> str:
    """The run's page in Airflow's own UI."""
    return f"/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"
