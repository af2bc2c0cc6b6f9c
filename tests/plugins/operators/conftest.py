"""One configured deployment for calling operators' `execute` directly.

Everything is real: a seeded SQLite warehouse, a SQLite ledger file, local stage/report/landing
folders and the Data API emulator over loopback HTTP, all wired the way a deployment wires them
(`AIRFLOW_CONN_*` / `AIRFLOW_VAR_*` environment variables), so no metadata database is needed.
Only Airflow's task context is built by hand: the operators read `dag.dag_id`, `run_id` and
`data_interval_end` from it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from learnosity_core.delivery.ledger import Ledger, SessionRow
from learnosity_devtools.emulator import EmulatorServer
from learnosity_devtools.emulator.seed import demo_templates
from learnosity_devtools.sample_data import sample_rows, seed_warehouse, write_sample_blobs
from learnosity_provider.operators.submit import LearnositySubmitShardOperator

KEY = "emulatordemokey1"
SECRET = "emulator-demo-secret"
LEARNERS = 12
BLOB_LEARNERS = 8


@dataclass
class Deployment:
    """The emulator, warehouse, ledger and folders one test's operators work against."""

    emulator: EmulatorServer
    warehouse: sa.Engine
    rows: pd.DataFrame
    ledger_url: str
    stage: Path
    reports: Path
    landing: Path

    def context(
        self, dag_id: str, run_id: str = "manual__test-1", data_interval_end: datetime | None = None
    ) -> dict[str, Any]:
        """The slice of Airflow's task context the operators read."""
        return {
            "dag": SimpleNamespace(dag_id=dag_id),
            "run_id": run_id,
            "data_interval_end": data_interval_end or datetime.now(UTC),
        }

    def ledger(self) -> Ledger:
        return Ledger.from_url(self.ledger_url)

    def sessions_of_run(self, dag_id: str, run_id: str) -> list[SessionRow]:
        return self.ledger().sessions_of_run(dag_id, run_id)

    def statuses(self, dag_id: str, run_id: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self.sessions_of_run(dag_id, run_id):
            counts[row.status.value] = counts.get(row.status.value, 0) + 1
        return counts

    def stored(self) -> list[dict[str, Any]]:
        return self.emulator.stored_sessions()

    def stored_keys(self) -> list[tuple[str, str]]:
        return [(s["activity_id"], s["user_id"]) for s in self.stored()]

    def writes(self) -> dict[str, int]:
        return {s["session_id"]: int(s["writes"]) for s in self.stored()}

    def valid_sessions(self) -> set[tuple[str, str]]:
        """(activity_id, user_id) of every warehouse session that must reach Learnosity."""
        keys = set(zip(self.rows["activity_id"], self.rows["user_id"], strict=True))
        invalid: set[tuple[str, str]] = self.rows.attrs["invalid_sessions"]
        return keys - invalid

    def submit(self, shards: Sequence[dict[str, Any]], **kwargs: Any) -> list[dict[str, Any]]:
        """What the mapped submit tasks do: one operator per shard, each executed once."""
        return [
            LearnositySubmitShardOperator(task_id="submit", shard=shard, **kwargs).execute({})
            for shard in shards
        ]

    def wait_for_jobs(self, timeout: float = 30) -> None:
        """Until the emulator has no queued or running job (it finishes them in ~0.05 s)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            jobs = self.emulator.stats()["jobs"]
            if not jobs.get("queued") and not jobs.get("running"):
                return
            time.sleep(0.05)
        raise TimeoutError(f"emulator jobs still pending after {timeout}s: {jobs}")

    def report_html(self, published: dict[str, Any]) -> str:
        return Path(published["report"].removeprefix("file://")).read_text(encoding="utf-8")


@pytest.fixture
def deployment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, emulator: EmulatorServer
) -> Iterator[Deployment]:
    """A seeded SQLite warehouse and every connection and Variable set through the environment."""
    rows = sample_rows(demo_templates(), learners=LEARNERS, unknown_activity=False)
    warehouse_path = tmp_path / "warehouse.db"
    engine = sa.create_engine(f"sqlite:///{warehouse_path}")
    seed_warehouse(engine, rows)
    ledger_path = tmp_path / "ledger.db"
    connections = {
        "LEARNOSITY_DEFAULT": {
            "conn_type": "learnosity",
            "host": emulator.url,
            "login": KEY,
            "password": SECRET,
        },
        "LEARNOSITY_WAREHOUSE": {"conn_type": "sqlite", "host": str(warehouse_path)},
        "LEARNOSITY_STATE": {"conn_type": "sqlite", "host": str(ledger_path)},
    }
    for name, fields in connections.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{name}", json.dumps(fields))
    folders = {"STAGE": "stage", "REPORTS": "reports", "FAILED_SUBMISSIONS": "landing"}
    for variable, folder in folders.items():
        monkeypatch.setenv(f"AIRFLOW_VAR_LEARNOSITY_{variable}_PATH", (tmp_path / folder).as_uri())
    monkeypatch.setenv("AIRFLOW_VAR_LEARNOSITY_FAILED_SUBMISSIONS_SETTLE_S", "0")  # blobs are written whole
    yield Deployment(
        emulator=emulator,
        warehouse=engine,
        rows=rows,
        ledger_url=f"sqlite:///{ledger_path}",
        stage=tmp_path / "stage",
        reports=tmp_path / "reports",
        landing=tmp_path / "landing",
    )
    engine.dispose()


@pytest.fixture
def landing(deployment: Deployment) -> Path:
    """The configured landing folder with valid blobs, one older duplicate and malformed files."""
    write_sample_blobs(deployment.landing, demo_templates(), learners=BLOB_LEARNERS)
    return deployment.landing
