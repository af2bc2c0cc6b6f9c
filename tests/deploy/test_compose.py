"""docker-compose.yml and the Dockerfile are consistent (no Docker engine runs here, so we parse them)."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from lrn_testing.airflow_env import REPO

AIRFLOW_SERVICES = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-worker": "celery worker",
    "airflow-triggerer": "triggerer",
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_the_stack_has_every_service(compose: dict) -> None:
    expected = {"postgres", "redis", "warehouse", "emulator", "airflow-init", *AIRFLOW_SERVICES}
    assert expected <= set(compose["services"])
    for name, command in AIRFLOW_SERVICES.items():
        assert compose["services"][name]["command"] == command
        assert "healthcheck" in compose["services"][name], name


def test_airflow_services_share_one_configuration(compose: dict) -> None:
    envs = [compose["services"][name]["environment"] for name in [*AIRFLOW_SERVICES, "airflow-init"]]
    for key in (
        "AIRFLOW__CORE__EXECUTOR",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__CELERY__BROKER_URL",
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "AIRFLOW_CONN_LEARNOSITY_DEFAULT",
        "AIRFLOW_CONN_LEARNOSITY_STATE",
        "AIRFLOW_VAR_LEARNOSITY_STAGE_PATH",
    ):
        values = {env[key] for env in envs}
        assert len(values) == 1, f"{key} differs between services"
    assert envs[0]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert "@postgres/" in envs[0]["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert (
        envs[0]["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
        and "@redis:6379" in envs[0]["AIRFLOW__CELERY__BROKER_URL"]
    )


def test_every_airflow_process_sees_the_same_dags_and_stage(compose: dict) -> None:
    for name in [*AIRFLOW_SERVICES, "airflow-init"]:
        volumes = compose["services"][name]["volumes"]
        assert "./dags:/opt/airflow/dags" in volumes
        assert any(v.endswith(":/opt/airflow/shared") for v in volumes), name
    env = compose["services"]["airflow-worker"]["environment"]
    for var in ("STAGE_PATH", "REPORTS_PATH", "FAILED_SUBMISSIONS_PATH"):
        assert env[f"AIRFLOW_VAR_LEARNOSITY_{var}"].startswith("file:///opt/airflow/shared/")


def test_the_default_connection_points_at_the_emulator_service(compose: dict) -> None:
    env = compose["services"]["airflow-worker"]["environment"]
    default = re.fullmatch(
        r"\$\{AIRFLOW_CONN_LEARNOSITY_DEFAULT:-(.*)\}", env["AIRFLOW_CONN_LEARNOSITY_DEFAULT"]
    )
    assert default, "the Data API connection must be overridable from .env"
    conn = json.loads(default.group(1))
    emulator = compose["services"]["emulator"]
    assert conn["host"] == f"http://emulator:{emulator['environment']['EMULATOR_PORT']}"
    assert conn["login"] == emulator["environment"]["EMULATOR_CONSUMER_KEY"]


def test_init_migrates_creates_the_admin_and_the_pool_after_the_warehouse_is_seeded(compose: dict) -> None:
    init = compose["services"]["airflow-init"]
    assert init["environment"]["_AIRFLOW_DB_MIGRATE"] == "true"
    assert init["environment"]["_AIRFLOW_WWW_USER_CREATE"] == "true"
    assert "airflow pools set learnosity_api" in "\n".join(init["command"])
    assert init["depends_on"]["warehouse-seed"]["condition"] == "service_completed_successfully"
    seed = compose["services"]["warehouse-seed"]
    assert seed["build"]["target"] == "devtools"
    assert seed["command"][:3] == ["python", "-m", "learnosity_devtools.sample_data"]
    assert any("@warehouse/" in part for part in seed["command"])
    for name in AIRFLOW_SERVICES:
        depends = compose["services"][name]["depends_on"]
        assert depends["airflow-init"]["condition"] == "service_completed_successfully"


def test_the_image_installs_the_pinned_set_and_the_project() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"^FROM apache/airflow:3\.3\.2", dockerfile, re.MULTILINE)
    assert '"apache-airflow==3.3.2" -r /opt/learnosity/requirements.txt' in dockerfile
    assert "-c /opt/learnosity/constraints.txt" in dockerfile
    assert "--no-deps /opt/learnosity" in dockerfile
    for path in ("requirements.txt", "constraints.txt", "pyproject.toml", "include", "plugins", "dags"):
        assert path in dockerfile and (REPO / path).exists()


def test_the_product_image_has_no_devtools_only_the_demo_services_do(compose: dict) -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    product, _, devtools = dockerfile.partition("FROM airflow AS devtools")
    assert "COPY --chown=airflow:0 devtools" not in product and "learnosity-devtools" not in product
    assert "COPY --chown=airflow:0 devtools" in devtools
    targets = {name: (s.get("build") or {}).get("target") for name, s in compose["services"].items()}
    assert {name for name, target in targets.items() if target == "devtools"} == {
        "emulator",
        "warehouse-seed",
    }
    for name in [*AIRFLOW_SERVICES, "airflow-init"]:
        assert targets[name] == "airflow", name
