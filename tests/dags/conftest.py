"""End-to-end DAG runs with `dag.test()` against the emulator over real HTTP."""

from __future__ import annotations

import json
import threading
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


# `dag.test()` waits for ever on a task parked awaiting input that nobody resolves; no run here
# takes more than a few minutes, so one still running past this is a defect, not a slow machine.
RUN_LIMIT_S = 600


def _end_if_still_running(dag_id: str, finished: threading.Event, hung: list[str]) -> None:
    """Fail the unfinished tasks of a run still going after `RUN_LIMIT_S`, so `dag.test()` returns
    and the test fails with a reason instead of holding the suite until CI's own limit."""
    if finished.wait(RUN_LIMIT_S):
        return
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, State, TaskInstanceState

    with create_session() as session:
        for run in session.query(DagRun).filter_by(dag_id=dag_id, state=DagRunState.RUNNING):
            for ti in run.get_task_instances(session=session):
                if ti.state not in State.finished:
                    hung.append(f"{ti.task_id} ({ti.state})")
                    ti.set_state(TaskInstanceState.FAILED, session=session)


@pytest.fixture
def run_dag(airflow_db: Path) -> Callable[..., Any]:
    """Run a DAG once with `dag.test()` (triggers run in-process) and return its DagRun."""

    def run(dag_id: str, **conf: Any) -> Any:
        dag = _fresh_dag(dag_id)
        finished = threading.Event()
        hung: list[str] = []
        watchdog = threading.Thread(target=_end_if_still_running, args=(dag_id, finished, hung), daemon=True)
        watchdog.start()
        try:
            result = dag.test(run_conf=conf)
        finally:
            finished.set()
            watchdog.join()
        assert not hung, f"{dag_id} still ran after {RUN_LIMIT_S} s; ended: {', '.join(hung)}"
        return result

    return run
