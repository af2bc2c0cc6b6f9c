"""A real CeleryExecutor Airflow cluster on this machine, for the cluster and browser tests.

Starts `airflow api-server`, `scheduler`, `dag-processor`, `triggerer` and two `celery worker`s
on this machine's PostgreSQL (metadata, ledger) and Redis (broker), plus the Data API emulator,
each in its own process group, and stops every one of them by its own id, also on failure.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from lrn_testing.services import PG_ADMIN_URL

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
CONSUMER_KEY, CONSUMER_SECRET = "emulatordemokey1", "emulator-demo-secret"


def worker_name() -> str:
    """`[core] hostname_callable` of the test workers: tells the two workers apart in task instances."""
    return os.environ.get("LRN_WORKER_NAME", socket.gethostname())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Cluster:
    home: Path
    api_url: str
    emulator_url: str
    env: dict[str, str]
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    token: str = ""

    def log(self, name: str) -> str:
        return (self.home / "logs" / f"{name}.log").read_text(errors="replace")

    def start(self, name: str, *args: str, extra_env: dict[str, str] | None = None) -> None:
        out = (self.home / "logs" / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(
            [str(BIN / "airflow"), *args] if args[0] != "python" else [sys.executable, *args[1:]],
            env={**self.env, **(extra_env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def start_worker(self, n: int) -> None:
        """Celery worker `w<n>` with two slots (again, after `kill`)."""
        self.start(
            f"worker{n}",
            "celery",
            "worker",
            "--celery-hostname",
            f"w{n}@%h",
            "--concurrency",
            "2",
            extra_env={
                "LRN_WORKER_NAME": f"w{n}",
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            },
        )

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs[name]
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        proc.wait(timeout=30)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                with suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    # -- REST API ---------------------------------------------------------------------------------

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        response = httpx.request(
            method,
            f"{self.api_url}{path}",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
            **kwargs,
        )
        response.raise_for_status()
        return response.json()

    def password(self) -> str:
        generated = self.home / "simple_auth_manager_passwords.json.generated"
        return str(json.loads(generated.read_text())["admin"])

    def login(self) -> None:
        response = httpx.post(
            f"{self.api_url}/auth/token", json={"username": "admin", "password": self.password()}, timeout=30
        )
        response.raise_for_status()
        self.token = response.json()["access_token"]

    def wait_for_dag(self, dag_id: str, timeout: float = 180) -> None:
        """The dag-processor has parsed the DAG file (a fresh cluster needs a few seconds)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = httpx.get(
                f"{self.api_url}/api/v2/dags/{dag_id}",
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=30,
            )
            if response.status_code == 200:
                return
            time.sleep(1)
        raise TimeoutError(f"DAG {dag_id} not parsed after {timeout} s:\n{self.log('dag-processor')[-3000:]}")

    def trigger(self, dag_id: str, conf: dict[str, Any]) -> str:
        self.wait_for_dag(dag_id)
        self.api("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})
        run = self.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf})
        return str(run["dag_run_id"])

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        result = self.api(
            "GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 500}
        )
        return list(result["task_instances"])

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 600, on_poll: Any = None) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = str(self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"])
            if on_poll is not None:
                on_poll(self.task_instances(dag_id, run_id))
            if state in {"success", "failed"}:
                return state
            time.sleep(2)
        raise TimeoutError(f"run {run_id} not finished after {timeout} s")


def _wait_healthy(cluster: Cluster, timeout: float = 180) -> None:
    """Until every component reports healthy, both workers are ready, and the API server's
    execution API answers: its first request builds that app (about 5 s on this machine), which
    would otherwise fall on the first task a run starts, as it never does on a long-running server."""
    deadline = time.monotonic() + timeout
    needed = {"metadatabase", "scheduler", "triggerer", "dag_processor"}
    last: Any = None
    while time.monotonic() < deadline:
        for name, proc in cluster.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{cluster.log(name)[-3000:]}")
        try:
            last = httpx.get(f"{cluster.api_url}/api/v2/monitor/health", timeout=5).json()
            healthy = {k for k, v in last.items() if isinstance(v, dict) and v.get("status") == "healthy"}
            workers_ready = all("ready." in cluster.log(w) for w in ("worker1", "worker2"))
            if needed <= healthy and workers_ready:
                httpx.get(f"{cluster.api_url}/execution/health", timeout=60).raise_for_status()
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(1)
    raise TimeoutError(f"cluster not healthy after {timeout} s: {last}")


@contextmanager
def running_cluster(
    tmp: Path,
    warehouse_url: str,
    emulator_env: dict[str, str] | None = None,
    learnosity_extra: dict[str, Any] | None = None,
) -> Iterator[Cluster]:
    """Start everything; yield the cluster; stop every process and drop the databases.
    `learnosity_extra`: extras of the Learnosity connection (e.g. a shared `rate_limiter_url`)."""
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    tag = uuid.uuid4().hex[:10]
    databases = [f"lrn_meta_{tag}", f"lrn_state_{tag}"]
    with admin.connect() as conn:
        for name in databases:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    base = admin.url
    meta_url = base.set(drivername="postgresql+psycopg2", database=databases[0]).render_as_string(
        hide_password=False
    )
    state_url = base.set(database=databases[1])
    api_port, emulator_port = free_port(), free_port()
    home = tmp / "airflow-home"
    (home / "logs").mkdir(parents=True)
    redis_db = str(int(tag[:4], 16) % 14 + 1)
    env = {
        **os.environ,
        "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(REPO / "tests" / "support"),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",  # `trigger` unpauses the DAG it runs
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "lrn_testing.cluster.worker_name",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": meta_url,
        "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:6379/{redis_db}",
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + meta_url.replace("+psycopg2", ""),
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
        "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": "learnosity_provider.worker.CELERY_CONFIG",
        "AIRFLOW__API_AUTH__JWT_SECRET": uuid.uuid4().hex * 2,
        "AIRFLOW__API__SECRET_KEY": uuid.uuid4().hex,
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "15",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "90",
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL": "15",
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "LEARNOSITY_JOB_POLL_S": "2",
        # February 29th: no fire time between the DAGs' start date and 2028, so unpausing a DAG to
        # trigger it never also creates a scheduled run that would race the test's own run.
        "LEARNOSITY_TEMPLATE_CRON": "0 0 29 2 *",
        "LEARNOSITY_REPLAY_CRON": "0 0 29 2 *",
        "AIRFLOW_CONN_LEARNOSITY_DEFAULT": json.dumps(
            {
                "conn_type": "learnosity",
                "host": f"http://127.0.0.1:{emulator_port}",
                "login": CONSUMER_KEY,
                "password": CONSUMER_SECRET,
                **({"extra": learnosity_extra} if learnosity_extra else {}),
            }
        ),
        "AIRFLOW_CONN_LEARNOSITY_WAREHOUSE": warehouse_url,
        "AIRFLOW_CONN_LEARNOSITY_STATE": json.dumps(
            {
                "conn_type": "postgres",
                "host": state_url.host,
                "port": state_url.port,
                "login": state_url.username,
                "schema": state_url.database,
            }
        ),
        "AIRFLOW_VAR_LEARNOSITY_STAGE_PATH": (tmp / "stage").as_uri(),
        "AIRFLOW_VAR_LEARNOSITY_REPORTS_PATH": (tmp / "reports").as_uri(),
        "AIRFLOW_VAR_LEARNOSITY_PARALLEL_SHARDS": "4",
    }
    env.pop("CI", None)  # Airflow's own CI switches do not apply to our cluster
    cluster = Cluster(
        home=home,
        api_url=f"http://127.0.0.1:{api_port}",
        emulator_url=f"http://127.0.0.1:{emulator_port}",
        env=env,
    )
    try:
        subprocess.run(
            [str(BIN / "airflow"), "db", "migrate"], env=env, check=True, capture_output=True, timeout=300
        )
        subprocess.run(
            [str(BIN / "airflow"), "pools", "set", "learnosity_api", "4", "Learnosity SET /sessions"],
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
        cluster.start(
            "emulator",
            "python",
            "-m",
            "learnosity_devtools.emulator",
            extra_env={
                "EMULATOR_PORT": str(emulator_port),
                "EMULATOR_DB": str(tmp / "emulator.db"),
                "EMULATOR_CONSUMER_KEY": CONSUMER_KEY,
                "EMULATOR_CONSUMER_SECRET": CONSUMER_SECRET,
                **(emulator_env or {}),
            },
        )
        cluster.start("api-server", "api-server", "--port", str(api_port), "--host", "127.0.0.1")
        cluster.start("scheduler", "scheduler")
        cluster.start("dag-processor", "dag-processor")
        cluster.start("triggerer", "triggerer")
        for n in (1, 2):
            cluster.start_worker(n)
        _wait_healthy(cluster)
        cluster.login()
        yield cluster
    finally:
        cluster.stop_all()
        with admin.connect() as conn:
            for name in databases:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
