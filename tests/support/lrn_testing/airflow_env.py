"""An isolated Airflow home for the test session, set before anything imports Airflow.

Loaded as a pytest plugin (`-p lrn_testing.airflow_env`), so the environment is in place before
conftest files and test modules are imported.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
HOME = Path(tempfile.mkdtemp(prefix="lrn-airflow-home-"))

os.environ.update(
    {
        "AIRFLOW_HOME": str(HOME),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{HOME / 'airflow.db'}",
        "LEARNOSITY_JOB_POLL_S": "0.5",
        # dag.test() in Airflow 3.3.2 crashes on a successful run of a DAG with a DeadlineAlert
        # (see learnosity_provider.deadlines.overdue_alert); tests that check the alert set it.
        "LEARNOSITY_TEMPLATE_DEADLINE_MIN": "off",
        "LEARNOSITY_REPLAY_DEADLINE_MIN": "off",
        "LEARNOSITY_RECONCILE_DEADLINE_MIN": "off",
    }
)


@pytest.fixture(scope="session")
def airflow_db() -> Iterator[Path]:
    """A migrated metadata database (what `dag.test()` needs), created once per session."""
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True, env=os.environ.copy())
    yield HOME


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(HOME, ignore_errors=True)
