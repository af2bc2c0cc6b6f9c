"""Fixtures shared by every test directory (kept small; no Airflow imports here)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from learnosity_devtools.emulator import EmulatorConfig, EmulatorServer

EMULATOR_KEY = "emulatordemokey1"
EMULATOR_SECRET = "emulator-demo-secret"


@pytest.fixture
def emulator_job_detail() -> bool:
    """Whether the `emulator` fixture's jobs answer with per-session detail (the emulator's extension)
    rather than the documented minimal shape. On here, for the tests that read that detail; override
    this fixture in a conftest, or parametrize it in a test, for the other shape."""
    return True


@pytest.fixture
def emulator_entry_checks() -> str:
    """Invalid entries of a SET are left out of its job, unless a test asks for a refused request."""
    return "job"


@pytest.fixture
def emulator(
    tmp_path: Path, emulator_job_detail: bool, emulator_entry_checks: str
) -> Iterator[EmulatorServer]:
    """A started Data API emulator on a free loopback port with its own SQLite file."""
    config = EmulatorConfig(
        port=0,
        db_path=tmp_path / "emulator.db",
        consumers={EMULATOR_KEY: EMULATOR_SECRET},
        job_delay_s=0.05,
        job_detail=emulator_job_detail,
        entry_checks=emulator_entry_checks,
    )
    with EmulatorServer(config) as server:
        yield server
