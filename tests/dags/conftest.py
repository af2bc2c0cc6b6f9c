"""End-to-end DAG runs with `dag.test()` against the emulator over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from learnosity_core.delivery.ledger import Ledger
from learnosity_devtools.emulator import EmulatorServer
from learnosity_devtools.emulator.seed import demo_templates
from learnosity_devtools.sample_data import sample_rows, seed_warehouse
from lrn_testing.airflow_env import REPO

LEARNERS = 25


@pytest.fixture
def emulator_job_detail() -> bool:
    """DAG runs meet the documented `jobs` answer (no per-session detail) unless a test asks for
    the emulator's detailed one: completed sessions are then confirmed by read-back alone."""
    return False


@dataclass
class Pipeline:
    """One configured deployment: warehouse, ledger, folders and the emulator behind it."""

    emulator: EmulatorServer
    warehouse: sa.Engine
    rows: pd.DataFrame
    ledger_url: str
    stage: Path
    reports: Path

    def stored(self) -> list[dict[str, Any]]:
        return self.emulator.stored_sessions()

    def writes(self) -> dict[str, int]:
        return {s["session_id"]: int(s["writes"]) for s in self.stored()}

    def ledger(self) -> Ledger:
        return Ledger.from_url(self.ledger_url)

    def valid_sessions(self) -> set[tuple[str, str]]:
        """(activity_id, user_id) of every session that must be stored."""
        keys = set(zip(self.rows["activity_id"], self.rows["user_id"], strict=True))
        return keys - self.rows.attrs["invalid_sessions"]

    def stored_keys(self) -> list[tuple[str, str]]:
        return [(s["activity_id"], s["user_id"]) for s in self.stored()]

    def assert_exactly_once(self) -> None:
        keys = self.stored_keys()
        assert len(keys) == len(set(keys)), "a session was stored twice"
        assert set(keys) == self.valid_sessions()


def _fresh_dag(dag_id: str) -> Any:
    """Parse the DAG file anew: `dag.test(run_conf=...)` leaves the conf in the DAG's params."""
    from airflow.models import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags" / f"{dag_id}.py"))
    assert bag.import_errors == {}
    return bag.dags[dag_id]


def _pipeline(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, emulator: EmulatorServer, warehouse_url: str, conn: dict
) -> Pipeline:
    rows = sample_rows(demo_templates(), learners=LEARNERS, unknown_activity=False)
    engine = sa.create_engine(warehouse_url)
    seed_warehouse(engine, rows)
    ledger_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    monkeypatch.setenv(
        "AIRFLOW_CONN_LEARNOSITY_DEFAULT",
        json.dumps(
            {
                "conn_type": "learnosity",
                "host": emulator.url,
                "login": "emulatordemokey1",
                "password": "emulator-demo-secret",
            }
        ),
    )
    monkeypatch.setenv("AIRFLOW_CONN_LEARNOSITY_WAREHOUSE", json.dumps(conn))
    monkeypatch.setenv(
        "AIRFLOW_CONN_LEARNOSITY_STATE",
        json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "ledger.db")}),
    )
    monkeypatch.setenv("AIRFLOW_VAR_LEARNOSITY_STAGE_PATH", (tmp_path / "stage").as_uri())
    monkeypatch.setenv("AIRFLOW_VAR_LEARNOSITY_REPORTS_PATH", (tmp_path / "reports").as_uri())
    monkeypatch.setenv("AIRFLOW_VAR_LEARNOSITY_FAILED_SUBMISSIONS_PATH", (tmp_path / "landing").as_uri())
    # Blobs are written whole before each run (the slow-writer test sets its own settle time).
    monkeypatch.setenv("AIRFLOW_VAR_LEARNOSITY_FAILED_SUBMISSIONS_SETTLE_S", "0")
    # The sample rows are adversarial on purpose: about a fifth of each activity is quarantined.
    monkeypatch.setenv("AIRFLOW_VAR_LEARNOSITY_MAX_QUARANTINE_SHARE", "0.5")
    # No one answers approval requests in these runs: never ask for one by the quarantined share
    # (the default 5% would); tests/dags/test_review.py puts the default back.
    monkeypatch.setenv("AIRFLOW_VAR_LEARNOSITY_APPROVAL_ABOVE_QUARANTINE_SHARE", "1")
    return Pipeline(emulator, engine, rows, ledger_url, tmp_path / "stage", tmp_path / "reports")


@pytest.fixture
def sqlite_pipeline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, emulator: EmulatorServer) -> Pipeline:
    path = tmp_path / "warehouse.db"
    return _pipeline(
        monkeypatch, tmp_path, emulator, f"sqlite:///{path}", {"conn_type": "sqlite", "host": str(path)}
    )


@pytest.fixture
def postgres_pipeline(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, emulator: EmulatorServer, postgres_url: str
) -> Pipeline:
    url = sa.make_url(postgres_url)
    conn = {
        "conn_type": "postgres",
        "host": url.host,
        "port": url.port,
        "login": url.username,
        "schema": url.database,
    }
    return _pipeline(monkeypatch, tmp_path, emulator, postgres_url, conn)


@pytest.fixture
def run_dag(airflow_db: Path) -> Callable[..., Any]:
    """Run a DAG once with `dag.test()` (triggers run in-process) and return its DagRun."""

    def run(dag_id: str, **conf: Any) -> Any:
        return _fresh_dag(dag_id).test(run_conf=conf)

    return run
