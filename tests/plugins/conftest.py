"""Connections for the hook tests.

Airflow itself is already isolated for the whole session by the `lrn_testing.airflow_env` plugin
(loaded with `-p` before any conftest): AIRFLOW_HOME is a temporary folder, examples are off,
and dags/ and plugins/ are the repository's. Nothing here needs the metadata database:
connections come from `AIRFLOW_CONN_*` variables or are built in memory.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from learnosity_devtools.emulator import EmulatorServer

KEY = "emulatordemokey1"
SECRET = "emulator-demo-secret"


@pytest.fixture
def learnosity_env(monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """Define a connection the way deployments do: a JSON `AIRFLOW_CONN_<ID>` variable."""

    def define(conn_id: str = "learnosity_default", **fields: object) -> str:
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "learnosity", **fields})
        )
        return conn_id

    return define


@pytest.fixture
def emulator_conn(emulator: EmulatorServer, learnosity_env: Callable[..., str]) -> str:
    """`learnosity_default` pointing at the running emulator."""
    return learnosity_env(host=emulator.url, login=KEY, password=SECRET)
