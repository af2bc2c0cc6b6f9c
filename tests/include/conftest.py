"""What the core's tests share: a client of the running emulator, a SQLite ledger, a stage folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from learnosity_core.dataapi import DataApiClient, DataApiSettings
from learnosity_core.delivery.ledger import Ledger
from learnosity_devtools.emulator import EmulatorServer


@pytest.fixture
def client(emulator: EmulatorServer) -> Iterator[DataApiClient]:
    """A client of the `emulator` fixture with short backoffs, paced to its rate-limit window."""
    settings = DataApiSettings(
        base_url=emulator.url,
        consumer_key="emulatordemokey1",
        consumer_secret="emulator-demo-secret",
        backoff_base_s=0.02,
        backoff_cap_s=0.1,
        window_s=emulator.config.window_s,
    )
    with DataApiClient(settings) as api:
        yield api


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger.from_url(f"sqlite:///{tmp_path / 'ledger.db'}")


@pytest.fixture
def stage(tmp_path: Path) -> Path:
    folder = tmp_path / "stage"
    folder.mkdir()
    return folder
