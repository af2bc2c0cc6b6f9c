"""Fixtures shared by every test directory (kept small; no Airflow imports here)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from learnosity_devtools.emulator import EmulatorConfig, EmulatorServer

EMULATOR_KEY = "emulatordemokey1"
EMULATOR_SECRET = "emulator-demo-secret"


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[EmulatorServer]:
    """A started Data API emulator on a free loopback port with its own SQLite file."""
    config = EmulatorConfig(
        port=0,
        db_path=tmp_path / "emulator.db",
        consumers={EMULATOR_KEY: EMULATOR_SECRET},
        job_delay_s=0.05,
    )
    with EmulatorServer(config) as server:
        yield server
