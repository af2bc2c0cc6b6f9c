"""The plugin as a task process loads it (its macros and listeners): registered, without the
page's FastAPI app and Airflow's API server, which only the API server needs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

TASK_PROCESS = """
import json, sys
from airflow.sdk.plugins_manager import _get_plugins, integrate_macros_plugins
integrate_macros_plugins()
plugins, errors = _get_plugins()
print(json.dumps({
    "plugins": [p.name for p in plugins],
    "errors": errors,
    "app_loaded": [m for m in ("learnosity_provider.ui.app", "airflow.api_fastapi.app") if m in sys.modules],
}))
"""


def test_a_task_process_loads_the_plugin_without_building_its_app(tmp_path: Path) -> None:
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    done = subprocess.run(
        [sys.executable, "-c", TASK_PROCESS], env=env, capture_output=True, text=True, timeout=120, check=True
    )
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert "learnosity_delivery" in loaded["plugins"]
    assert loaded["errors"] == {}
    assert loaded["app_loaded"] == []


def test_the_api_server_mounts_the_page_from_the_plugin(api: Any, auth: dict[str, str]) -> None:
    from airflow.plugins_manager import get_plugin_info

    (info,) = [p for p in get_plugin_info() if p["name"] == "learnosity_delivery"]
    apps = [(a["name"], a["url_prefix"]) for a in info["fastapi_apps"]]
    assert apps == [("Learnosity deliveries", "/learnosity")]
    page = api.get("/learnosity/", headers=auth)
    assert page.status_code == 200
    assert "Learnosity deliveries" in page.text
