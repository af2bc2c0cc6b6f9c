"""Clients pointed at real emulators over loopback, and valid sessions to send them."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from learnosity_core.dataapi import DataApiClient, DataApiSettings
from learnosity_devtools.emulator import EmulatorConfig, EmulatorServer
from learnosity_devtools.emulator.seed import demo_templates, question_id

KEY = "emulatordemokey1"
SECRET = "emulator-demo-secret"
ACTIVITY = "demo-biology-cells-u3"
SHORTTEXT = question_id("bio-cells-process")


def _session(user: int = 1, session_id: str | None = None, answer: str = "photosynthesis") -> dict[str, Any]:
    """A valid `from_template` entry answering the activity's shorttext question."""
    return {
        "user_id": f"student-{user:05d}",
        "activity_id": ACTIVITY,
        "session_id": session_id or str(uuid.uuid4()),
        "responses": [
            {"question_id": SHORTTEXT, "type": "string", "value": answer, "characterCount": len(answer)}
        ],
    }


def _settings_for(server: EmulatorServer, **overrides: Any) -> DataApiSettings:
    """Fast retries so failure paths take milliseconds; the rate window stays the emulator's."""
    values: dict[str, Any] = {
        "base_url": server.url,
        "consumer_key": KEY,
        "consumer_secret": SECRET,
        "backoff_base_s": 0.02,
        "backoff_cap_s": 0.1,
        "window_s": server.config.window_s,
        **overrides,
    }
    return DataApiSettings(**values)


def _answers(server: EmulatorServer, endpoint: str) -> dict[str, int]:
    """Answers per HTTP status (and `dropped`) the emulator gave on `endpoint`, e.g. "set /sessions"."""
    requests: dict[str, dict[str, int]] = server.stats()["requests"]
    return requests.get(endpoint, {})


@pytest.fixture
def make_emulator(tmp_path: Path) -> Iterator[Callable[..., EmulatorServer]]:
    """Start emulators with other limits or windows than the shared `emulator` fixture."""
    started: list[EmulatorServer] = []

    def make(**config: Any) -> EmulatorServer:
        values: dict[str, Any] = {
            "port": 0,
            "db_path": tmp_path / f"emulator-{len(started)}.db",
            "consumers": {KEY: SECRET},
            "job_delay_s": 0.05,
            **config,
        }
        server = EmulatorServer(EmulatorConfig(**values)).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def client(emulator: EmulatorServer) -> Iterator[DataApiClient]:
    with DataApiClient(_settings_for(emulator)) as api:
        yield api


@pytest.fixture
def new_session() -> Callable[..., dict[str, Any]]:
    return _session


@pytest.fixture
def template() -> dict[str, Any]:
    return demo_templates()[ACTIVITY]


@pytest.fixture
def settings_for() -> Callable[..., DataApiSettings]:
    return _settings_for


@pytest.fixture
def answers() -> Callable[[EmulatorServer, str], dict[str, int]]:
    return _answers
