"""The Celery settings a worker runs with: Airflow's defaults, and this package's modules imported
once when the worker starts, before it forks its pool."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from learnosity_provider.preload import MODULES

WORKER_START = """
import json, sys
from airflow.providers.celery.executors.celery_executor_utils import app
from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
before = [m for m in sys.argv[1:] if m in sys.modules]
app.loader.import_default_modules()  # what a Celery worker does as it starts
print(json.dumps({
    "before": before,
    "after": [m for m in sys.argv[1:] if m in sys.modules],
    "broker": app.conf.broker_url == DEFAULT_CELERY_CONFIG["broker_url"],
}))
"""


def test_a_worker_imports_the_task_modules_as_it_starts(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": "learnosity_provider.worker.CELERY_CONFIG",
    }
    done = subprocess.run(
        [sys.executable, "-c", WORKER_START, *MODULES],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    started = json.loads(done.stdout.strip().splitlines()[-1])
    assert "learnosity_provider.pipeline" not in started["before"]
    assert started["after"] == list(MODULES)
    assert started["broker"], "everything else is Airflow's default"
