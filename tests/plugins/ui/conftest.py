"""The delivery page as the api-server serves it: Airflow's own app (plugins mounted from the
entry point) on the session's migrated metadata database, with real tokens from its auth manager."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from learnosity_core.delivery.ledger import Ledger


@pytest.fixture(scope="session")
def api(airflow_db: Path) -> Iterator[Any]:
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    with TestClient(create_app("core")) as client:
        yield client


@pytest.fixture(scope="session")
def token(api: Any) -> str:
    """A JWT for the admin, issued the way POST /auth/token issues it."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    return str(get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="admin", role="admin")))


@pytest.fixture
def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AIRFLOW_VAR_LEARNOSITY_REPORTS_PATH", (tmp_path / "reports").as_uri())
    return tmp_path / "reports"


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Ledger:
    """The ledger the page reads: connection `learnosity_state`, as the DAGs find it."""
    path = tmp_path / "ledger.db"
    monkeypatch.setenv(
        "AIRFLOW_CONN_LEARNOSITY_STATE", json.dumps({"conn_type": "sqlite", "host": str(path)})
    )
    return Ledger.from_url(f"sqlite:///{path}")


@pytest.fixture
def add_run(airflow_db: Path) -> Callable[..., str]:
    """A run row in Airflow's metadata database, as the scheduler would have created it."""

    def add(dag_id: str, state: str, conf: dict[str, Any] | None = None, run_id: str | None = None) -> str:
        from airflow.models.dagrun import DagRun
        from airflow.utils.session import create_session

        run_id = run_id or f"manual__2026-01-01T02:00:00+00:00_{uuid.uuid4().hex[:8]}"
        now = datetime.now(UTC)
        with create_session() as session:
            session.add(
                DagRun(
                    dag_id=dag_id,
                    run_id=run_id,
                    run_type="manual",
                    state=state,
                    conf=conf or {},
                    run_after=now,
                    start_date=now,
                )
            )
        return run_id

    return add
