"""docker-compose.yml and the Dockerfile are consistent (no Docker engine runs here, so we parse them)."""

from __future__ import annotations

import base64
import json
import re
import stat
import subprocess
import sys
from pathlib import Path

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


DEMO_SERVICES = {"warehouse", "emulator", "warehouse-seed"}


def test_the_stack_has_every_service(compose: dict) -> None:
    expected = {"postgres", "redis", "airflow-init", *AIRFLOW_SERVICES, *DEMO_SERVICES}
    assert expected <= set(compose["services"])
    for name, command in AIRFLOW_SERVICES.items():
        assert compose["services"][name]["command"] == command
        assert "healthcheck" in compose["services"][name], name


def test_the_api_server_is_healthy_once_its_execution_api_answers(compose: dict) -> None:
    """Its first request builds the execution API (seconds): the probe pays it, not a task."""
    probe = " ".join(compose["services"]["airflow-apiserver"]["healthcheck"]["test"])
    assert "/api/v2/monitor/health" in probe and "/execution/health" in probe


def test_airflow_services_share_one_configuration(compose: dict) -> None:
    envs = [compose["services"][name]["environment"] for name in [*AIRFLOW_SERVICES, "airflow-init"]]
    for key in (
        "AIRFLOW__CORE__EXECUTOR",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__CELERY__BROKER_URL",
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "AIRFLOW__CORE__FERNET_KEY",
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


def test_workers_preload_the_task_modules(compose: dict) -> None:
    from importlib import import_module

    option = compose["services"]["airflow-worker"]["environment"]["AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS"]
    module, _, name = option.rpartition(".")
    assert "learnosity_provider.preload" in getattr(import_module(module), name)["imports"]


def test_no_learnosity_connection_outside_the_demo(compose: dict) -> None:
    """A forgotten .env must not send real learners to the emulator: the Data API connection comes
    from .env alone, and only `make dev-env` points it at the emulator."""
    for name, service in compose["services"].items():
        assert "AIRFLOW_CONN_LEARNOSITY_DEFAULT" not in (service.get("environment") or {}), name
    assert "emulator" not in json.dumps(compose["x-airflow-common"]["environment"])


def test_init_migrates_creates_the_admin_and_the_pool(compose: dict) -> None:
    init = compose["services"]["airflow-init"]
    assert init["environment"]["_AIRFLOW_DB_MIGRATE"] == "true"
    assert init["environment"]["_AIRFLOW_WWW_USER_CREATE"] == "true"
    assert "airflow pools set learnosity_api" in "\n".join(init["command"])
    assert not set(init["depends_on"]) & DEMO_SERVICES, "the cluster starts without the demo"
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


def test_it_is_documented_as_a_local_cluster_for_trying(compose: dict) -> None:
    header = (REPO / "docker-compose.yml").read_text().split("x-airflow-common")[0]
    assert "LOCAL CLUSTER FOR TRYING" in header and "not for production" in header
    assert "Helm chart" in header


def test_the_demo_services_are_in_the_dev_profile_on_loopback_only(compose: dict) -> None:
    for name, service in compose["services"].items():
        assert (service.get("profiles") == ["dev"]) == (name in DEMO_SERVICES), name
        for port in service.get("ports", []):
            assert str(port).startswith(("127.0.0.1:", "${AIRFLOW_API_BIND:-127.0.0.1}:")), (name, port)


REQUIRED = re.compile(r"\$\{([A-Z_][A-Z0-9_]*):\?[^}]*\}")


def test_no_password_or_key_is_written_in_the_compose_file() -> None:
    text = (REPO / "docker-compose.yml").read_text()
    for fixed in ("learnosity-airflow-jwt-secret", "airflow:airflow@", "warehouse:warehouse@", ":-admin"):
        assert fixed not in text, fixed
    assert "emulator-demo-secret" not in text
    required = set(REQUIRED.findall(text))
    assert {
        "POSTGRES_PASSWORD",
        "AIRFLOW__CORE__FERNET_KEY",
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "AIRFLOW__API__SECRET_KEY",
        "_AIRFLOW_WWW_USER_PASSWORD",
    } <= required
    assert all("run make secrets" in m.group(0) for m in REQUIRED.finditer(text))


def _make_env(path: Path, *flags: str) -> dict[str, str]:
    subprocess.run([sys.executable, str(REPO / "docker" / "make_env.py"), str(path), *flags], check=True)
    values = {}
    for line in path.read_text().splitlines():
        name, _, value = line.partition("=")
        values[name] = value.strip("'")
    return values


def test_make_secrets_writes_every_required_value_once_and_keeps_them(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    first = _make_env(env)
    required = set(REQUIRED.findall((REPO / "docker-compose.yml").read_text()))
    assert required <= set(first) and all(first[name] for name in required)
    assert stat.S_IMODE(env.stat().st_mode) == 0o600, "readable by its owner only"
    assert "AIRFLOW_CONN_LEARNOSITY_DEFAULT" not in first, "no Learnosity connection outside the demo"
    assert (
        base64.urlsafe_b64decode(first["AIRFLOW__CORE__FERNET_KEY"]) and len(first["POSTGRES_PASSWORD"]) >= 24
    )
    assert _make_env(env) == first, "a second run changes nothing"
    other = _make_env(tmp_path / "other.env")
    assert all(first[k] != other[k] for k in required if k not in {"_AIRFLOW_WWW_USER_USERNAME"}), "random"


def test_make_dev_env_adds_the_emulator_connection_and_keeps_a_real_one(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    demo = _make_env(env, "--demo")
    conn = json.loads(demo["AIRFLOW_CONN_LEARNOSITY_DEFAULT"])
    assert conn["host"] == "http://emulator:8765" and conn["password"] == demo["EMULATOR_CONSUMER_SECRET"]
    warehouse = json.loads(demo["AIRFLOW_CONN_LEARNOSITY_WAREHOUSE"])
    assert warehouse["password"] == demo["WAREHOUSE_PASSWORD"]

    real = tmp_path / "real.env"
    real.write_text('AIRFLOW_CONN_LEARNOSITY_DEFAULT=\'{"conn_type": "learnosity", "login": "k"}\'')
    kept = _make_env(real, "--demo")
    assert json.loads(kept["AIRFLOW_CONN_LEARNOSITY_DEFAULT"]) == {"conn_type": "learnosity", "login": "k"}
    assert "POSTGRES_PASSWORD" in kept
