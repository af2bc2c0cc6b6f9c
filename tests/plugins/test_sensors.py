"""The jobs sensor and its trigger against the emulator: defer only when needed, every mode works."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred

from learnosity_core.dataapi import DataApiClient, DataApiSettings
from learnosity_core.delivery.ledger import Ledger, SessionEntry
from learnosity_devtools.emulator import EmulatorConfig, EmulatorServer
from learnosity_provider.sensors import LearnosityJobsSensor, flatten_references
from learnosity_provider.triggers import LearnosityJobsTrigger

DAG_ID = "learnosity_template_submission"

KEY, SECRET = "emulatordemokey1", "emulator-demo-secret"
TEMPLATE = {
    "items": [{"questions": [{"id": "q1", "type": "mcq", "options": [{"value": "0"}, {"value": "1"}]}]}]
}


def _submit(emulator: EmulatorServer, count: int = 2) -> list[str]:
    client = DataApiClient(DataApiSettings(base_url=emulator.url, consumer_key=KEY, consumer_secret=SECRET))
    refs = []
    for _ in range(count):
        session = {
            "user_id": "u1",
            "activity_id": "a1",
            "session_id": str(uuid.uuid4()),
            "responses": [{"question_id": "q1", "type": "array", "value": ["1"]}],
        }
        refs.append(client.submit_template_sessions(TEMPLATE, [session]))
    client.close()
    return refs


def _wait_done(emulator: EmulatorServer, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = emulator.stats()["jobs"]
        if not jobs.get("queued") and not jobs.get("running"):
            return
        time.sleep(0.05)
    raise TimeoutError("emulator jobs did not finish")


def _context() -> Any:
    return {"ti": SimpleNamespace(start_date=datetime.now(UTC)), "dag": SimpleNamespace(dag_id=DAG_ID)}


def test_references_are_flattened_from_mapped_shard_results() -> None:
    shards = [{"job_references": ["a", "b"]}, {"job_references": ["b", "c"]}, None]
    assert flatten_references(shards) == ["a", "b", "c"]
    assert flatten_references([["x"], "y"]) == ["x", "y"]


def test_no_deferral_when_the_jobs_are_already_done(emulator: EmulatorServer, emulator_conn: str) -> None:
    refs = _submit(emulator)
    _wait_done(emulator)
    sensor = LearnosityJobsSensor(task_id="wait", job_references=[{"job_references": refs}], deferrable=True)
    assert sensor.execute(_context()) == {"jobs": refs, "pending": []}


def test_unfinished_jobs_defer_to_the_trigger(tmp_path: Path, learnosity_env: Callable[..., str]) -> None:
    config = EmulatorConfig(port=0, db_path=tmp_path / "slow.db", consumers={KEY: SECRET}, job_delay_s=30)
    with EmulatorServer(config) as slow:
        learnosity_env(host=slow.url, login=KEY, password=SECRET)
        refs = _submit(slow)
        sensor = LearnosityJobsSensor(task_id="wait", job_references=refs, deferrable=True, wait_timeout=60)
        with pytest.raises(TaskDeferred) as deferred:
            sensor.execute(_context())
    trigger = deferred.value.trigger
    assert isinstance(trigger, LearnosityJobsTrigger)
    assert sorted(trigger.job_references) == sorted(refs)
    assert deferred.value.method_name == "execute_complete"
    assert trigger.deadline is not None and trigger.deadline > time.time() + 50
    classpath, kwargs = trigger.serialize()
    assert classpath == "learnosity_provider.triggers.LearnosityJobsTrigger"
    assert LearnosityJobsTrigger(**kwargs).serialize() == (classpath, kwargs)


def test_trigger_fires_when_every_job_is_terminal(emulator: EmulatorServer, emulator_conn: str) -> None:
    refs = _submit(emulator)
    trigger = LearnosityJobsTrigger(conn_id=emulator_conn, job_references=refs, poll_interval=0.1)

    async def first_event() -> Any:
        return await anext(trigger.run())

    event = asyncio.run(asyncio.wait_for(first_event(), timeout=30))
    assert event.payload == {"status": "done", "pending": []}


def test_trigger_reports_unfinished_jobs_at_the_deadline(
    emulator: EmulatorServer, emulator_conn: str
) -> None:
    missing = [str(uuid.uuid4())]  # a reference the API does not know never finishes
    trigger = LearnosityJobsTrigger(
        conn_id=emulator_conn, job_references=missing, poll_interval=0.1, deadline=time.time() + 0.5
    )

    async def first_event() -> Any:
        return await anext(trigger.run())

    event = asyncio.run(asyncio.wait_for(first_event(), timeout=30))
    assert event.payload == {"status": "timeout", "pending": missing}


def test_execute_complete_passes_pending_jobs_on_and_refuses_unknown_events() -> None:
    sensor = LearnosityJobsSensor(task_id="wait", job_references=[], wait_timeout=5)
    assert sensor.execute_complete({}, {"status": "timeout", "pending": ["j2"]}, jobs=["j1", "j2"]) == {
        "jobs": ["j1", "j2"],
        "pending": ["j2"],
    }
    with pytest.raises(RuntimeError, match="unexpected trigger event"):
        sensor.execute_complete({}, {"status": "bogus"})


@pytest.mark.parametrize("mode", ["poke", "reschedule"])
def test_poke_modes_finish_when_jobs_are_done(
    emulator: EmulatorServer, emulator_conn: str, mode: str
) -> None:
    refs = _submit(emulator)
    sensor = LearnosityJobsSensor(task_id="wait", job_references=refs, deferrable=False, mode=mode)
    _wait_done(emulator)
    done = sensor.poke(_context())
    assert sensor.mode == mode
    assert done.is_done and done.xcom_value == {"jobs": refs, "pending": []}


def test_poke_keeps_waiting_while_jobs_run(tmp_path: Path, learnosity_env: Callable[..., str]) -> None:
    config = EmulatorConfig(port=0, db_path=tmp_path / "slow.db", consumers={KEY: SECRET}, job_delay_s=30)
    with EmulatorServer(config) as slow:
        learnosity_env(host=slow.url, login=KEY, password=SECRET)
        refs = _submit(slow)
        sensor = LearnosityJobsSensor(
            task_id="wait", job_references=refs, deferrable=False, mode="reschedule"
        )
        assert sensor.poke(_context()).is_done is False


def test_poke_gives_up_after_the_wait_timeout(emulator_conn: str) -> None:
    missing = [str(uuid.uuid4())]
    sensor = LearnosityJobsSensor(task_id="wait", job_references=missing, deferrable=False, wait_timeout=0)
    result = sensor.poke(_context())
    assert result.is_done and result.xcom_value == {"jobs": missing, "pending": missing}


@pytest.fixture
def run_ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Ledger:
    """The ledger (connection `learnosity_state`) the sensor reads the run's counters from."""
    path = tmp_path / "ledger.db"
    monkeypatch.setenv(
        "AIRFLOW_CONN_LEARNOSITY_STATE", json.dumps({"conn_type": "sqlite", "host": str(path)})
    )
    return Ledger.from_url(f"sqlite:///{path}")


def _sent(ledger: Ledger, run_id: str, refs: list[str], sizes: list[int]) -> None:
    """Batches of `sizes` sessions, each posted as the job of the same position."""
    for number, (ref, size) in enumerate(zip(refs, sizes, strict=True)):
        entries = [SessionEntry(f"{run_id}-{number}-{i}", "h", "a1", f"u{i}") for i in range(size)]
        ledger.stage(DAG_ID, run_id, f"{run_id}-b{number}", entries, data_format="from_template")
        ledger.record_submission(f"{run_id}-b{number}", ref)


def test_the_wait_logs_the_runs_own_progress(
    emulator: EmulatorServer, emulator_conn: str, run_ledger: Ledger, capfd: pytest.CaptureFixture[str]
) -> None:
    refs = _submit(emulator)
    _sent(run_ledger, "run-1", refs, [2, 1])
    _wait_done(emulator)
    sensor = LearnosityJobsSensor(task_id="wait", job_references=refs, deferrable=True)
    sensor.execute({**_context(), "run_id": "run-1"})
    log = capfd.readouterr().out  # Airflow's task logger writes to the console here
    assert "run progress: 3 sessions planned, 3 sent (100%), 0 completed, 0 failed, 0 verified" in log
    assert "2 of 2 jobs finished, 3 sessions processed (100%); every job finished" in log


def test_the_trigger_carries_the_sessions_per_job_and_logs_the_rate(
    tmp_path: Path,
    learnosity_env: Callable[..., str],
    emulator: EmulatorServer,
    run_ledger: Ledger,
    capfd: pytest.CaptureFixture[str],
) -> None:
    config = EmulatorConfig(port=0, db_path=tmp_path / "slow.db", consumers={KEY: SECRET}, job_delay_s=30)
    with EmulatorServer(config) as slow:
        conn_id = learnosity_env("learnosity_slow", host=slow.url, login=KEY, password=SECRET)
        refs = _submit(slow)
        _sent(run_ledger, "run-2", refs, [2, 3])
        sensor = LearnosityJobsSensor(
            task_id="wait", job_references=refs, learnosity_conn_id=conn_id, deferrable=True
        )
        with pytest.raises(TaskDeferred) as deferred:
            sensor.execute({**_context(), "run_id": "run-2"})
    progress = deferred.value.trigger.progress
    assert progress == {
        "planned": 5,
        "job_sessions": dict(zip(refs, [2, 3], strict=True)),
        "finished_jobs": [],
    }

    # One job of the two finishes at once (the fast emulator's), the other never does.
    done = _submit(emulator, count=1)
    _wait_done(emulator)
    progress = {"planned": 5, "job_sessions": {done[0]: 2, "never-finishes": 3}, "finished_jobs": []}
    trigger = LearnosityJobsTrigger(
        conn_id="learnosity_default",
        job_references=[done[0], "never-finishes"],
        poll_interval=0.1,
        deadline=time.time() + 0.5,
        progress=progress,
    )
    learnosity_env(host=emulator.url, login=KEY, password=SECRET)

    async def first_event() -> Any:
        return await anext(trigger.run())

    capfd.readouterr()
    event = asyncio.run(asyncio.wait_for(first_event(), timeout=30))
    log = capfd.readouterr().out
    assert event.payload == {"status": "timeout", "pending": ["never-finishes"]}
    line = "run progress: 5 sessions planned, 5 sent; 1 of 2 jobs finished, 2 sessions processed (40%); "
    assert line in log
    assert re.search(r"\(40%\); [0-9.]+ sessions/s, about \d+ (s|min) left", log)
