"""The product wheel holds the core and the provider only: no emulator, sample data or tests."""

from __future__ import annotations

import email
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from lrn_testing.airflow_env import REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(REPO),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
        ],
        check=True,
        capture_output=True,
        cwd=out,
    )
    (path,) = Path(out).glob("learnosity_airflow-*.whl")
    return zipfile.ZipFile(path)


def test_the_wheel_has_the_core_the_provider_and_the_report_template(wheel: zipfile.ZipFile) -> None:
    names = wheel.namelist()
    packages = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert packages == {"learnosity_core", "learnosity_provider"}
    assert "learnosity_core/reporting/report.html.j2" in names
    assert "learnosity_provider/hooks.py" in names
    assert "learnosity_provider/ui/templates/delivery.html.j2" in names  # the delivery page's pages


def test_the_wheel_has_no_dev_tools_sample_data_or_tests(wheel: zipfile.ZipFile) -> None:
    unwanted = [
        name
        for name in wheel.namelist()
        if any(part in name for part in ("emulator", "devtools", "sample_data", "synthetic", "test", "demo"))
    ]
    assert unwanted == []


def test_the_wheel_declares_its_runtime_dependencies_and_provider_entry_point(wheel: zipfile.ZipFile) -> None:
    (metadata_name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    metadata = email.message_from_bytes(wheel.read(metadata_name))
    required = {
        req.split(">")[0].split("<")[0].split("=")[0].strip() for req in metadata.get_all("Requires-Dist")
    }
    assert {"apache-airflow", "learnosity-sdk", "httpx", "pydantic", "pandas", "sqlalchemy"} <= required
    (entry_points,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    assert "apache_airflow_provider" in wheel.read(entry_points).decode()
    assert "[airflow.plugins]" in wheel.read(entry_points).decode()  # the delivery page
