"""Restarts lose nothing: the SQLite file is the state, and pending jobs resume."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from learnosity_devtools.emulator import EmulatorConfig, EmulatorServer


def test_restart_mid_job_resumes_it(make_emulator, client_for, build) -> None:
    server = make_emulator(job_delay_s=0.8, job_detail=True)
    api = client_for(server)
    entry = build.session()
    reference = api.set_sessions(build.from_template(entry))
    assert api.job(reference)["status"] == "queued"
    server.restart(downtime_s=0.1)
    job = api.wait(reference)
    assert job["status"] == "completed"
    assert job["data"]["sessions_stored"] == [entry["session_id"]]
    assert [s["writes"] for s in server.stored_sessions()] == [1]


def test_connections_are_refused_while_down(emulator) -> None:
    """Fresh connections are refused and kept-alive ones are cut, as when the process dies."""
    health = f"{emulator.url}/_emulator/health"
    with httpx.Client() as kept_alive:
        assert kept_alive.get(health).status_code == 200
        restart = threading.Thread(target=emulator.restart, kwargs={"downtime_s": 1.0})
        restart.start()
        time.sleep(0.3)
        with pytest.raises(httpx.ConnectError):
            httpx.get(health)
        with pytest.raises(httpx.TransportError):
            kept_alive.get(health)
        restart.join()
        assert kept_alive.get(health).status_code == 200


def test_everything_persists_into_a_new_server_on_the_same_file(tmp_path: Path, client_for, build) -> None:
    config = EmulatorConfig(port=0, db_path=tmp_path / "kept.db", job_delay_s=0.05, job_detail=True)
    with EmulatorServer(config) as first:
        api = client_for(first)
        entry = build.session()
        reference = api.set_sessions(build.from_template(entry))
        api.wait(reference)
        stored = first.stored_sessions()
    with EmulatorServer(config) as second:
        api = client_for(second)
        assert second.stored_sessions() == stored
        assert api.job(reference)["data"]["sessions_stored"] == [entry["session_id"]]
        body = api.ok("sessions/responses", {"session_id": [entry["session_id"]]})
        assert body["meta"]["records"] == 1


def test_the_database_is_in_wal_mode(emulator) -> None:
    with sqlite3.connect(emulator.config.db_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _start_cli(env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "learnosity_devtools.emulator"], env=env, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    return process, process.stdout.readline()


def test_cli_killed_and_restarted_on_the_same_db(tmp_path: Path, client_for, build) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    env = {
        **os.environ,
        "EMULATOR_PORT": str(free_port),
        "EMULATOR_DB": str(tmp_path / "cli.db"),
        "EMULATOR_JOB_DELAY_S": "1.0",
        "EMULATOR_JOB_DETAIL": "1",
    }
    process, banner = _start_cli(env)
    try:
        assert f"http://127.0.0.1:{free_port}" in banner
        assert "emulatordemokey1" in banner
        assert "emulator-demo-secret" not in banner
        api = client_for(f"http://127.0.0.1:{free_port}")
        entry = build.session()
        reference = api.set_sessions(build.from_template(entry))
    finally:
        process.kill()
        process.wait(timeout=10)
    process, _ = _start_cli(env)
    try:
        assert api.wait(reference)["data"]["sessions_stored"] == [entry["session_id"]]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
