"""`make check` from a shell: exit 0 and the understood questions, or 1 naming the setting to fix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from learnosity_devtools.emulator import EmulatorServer
from learnosity_devtools.emulator.seed import demo_templates
from learnosity_devtools.sample_data import sample_rows, seed_warehouse

KEY, SECRET = "emulatordemokey1", "emulator-demo-secret"


def _check(
    tmp_path: Path, emulator: EmulatorServer, secret: str, *args: str
) -> subprocess.CompletedProcess[str]:
    warehouse = tmp_path / "warehouse.db"
    if not warehouse.exists():
        seed_warehouse(sa.create_engine(f"sqlite:///{warehouse}"), sample_rows(demo_templates(), learners=30))
    env = {
        **os.environ,
        "AIRFLOW_CONN_LEARNOSITY_DEFAULT": json.dumps(
            {"conn_type": "learnosity", "host": emulator.url, "login": KEY, "password": secret}
        ),
        "AIRFLOW_CONN_LEARNOSITY_WAREHOUSE": json.dumps({"conn_type": "sqlite", "host": str(warehouse)}),
    }
    return subprocess.run(
        [sys.executable, "-m", "learnosity_provider.check", "--out", str(tmp_path / "bodies.jsonl"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_check_prints_every_demo_activity_and_writes_the_bodies(
    tmp_path: Path, emulator: EmulatorServer
) -> None:
    done = _check(tmp_path, emulator, SECRET, "--sessions", "2")
    assert done.returncode == 0, done.stderr[-2000:]
    for activity in demo_templates():
        assert f"activity {activity} (template by activity_template_id {activity}):" in done.stdout
    assert "  question " in done.stdout and "HELD BACK" in done.stdout  # the unknown demo activity
    bodies = (tmp_path / "bodies.jsonl").read_text().splitlines()
    assert len(bodies) == len(demo_templates())
    assert SECRET not in done.stdout + "".join(bodies)
    assert emulator.stored_sessions() == [], "the check sends nothing"


def test_a_wrong_secret_exits_non_zero_naming_the_consumer_secret(
    tmp_path: Path, emulator: EmulatorServer
) -> None:
    done = _check(tmp_path, emulator, "wrong-secret-value", "--activity", sorted(demo_templates())[0])
    assert done.returncode == 1
    assert "consumer secret (password) of connection learnosity_default" in done.stderr
    assert "wrong-secret-value" not in done.stderr + done.stdout


def test_a_missing_connection_says_which_one(tmp_path: Path, emulator: EmulatorServer) -> None:
    done = _check(tmp_path, emulator, SECRET, "--conn-id", "learnosity_nowhere")
    assert done.returncode == 1
    assert "learnosity_nowhere" in done.stderr
