"""The template DAG on a real CeleryExecutor cluster: scheduler, dag-processor, triggerer,
api-server and two Celery workers on this machine's PostgreSQL and Redis.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import httpx
import pytest

from lrn_testing.cluster import CONSUMER_KEY, CONSUMER_SECRET, Cluster, running_cluster

pytestmark = pytest.mark.cluster
DAG_ID = "learnosity_template_submission"


def _stored(cluster: Cluster) -> list[dict]:
    return list(httpx.get(f"{cluster.emulator_url}/_emulator/sessions", timeout=60).json())


def _assert_stored_exactly_once(cluster: Cluster, expected: int) -> None:
    stored = _stored(cluster)
    ids = [s["session_id"] for s in stored]
    assert len(ids) == len(set(ids)) == expected


def test_run_succeeds_on_both_workers_with_a_deferred_wait(
    cluster: Cluster, warehouse: tuple[str, int]
) -> None:
    states: dict[str, set[str]] = {}
    hosts: dict[str, set[str]] = {}

    def observe(tis: list[dict]) -> None:
        # Hosts are seen while the shards run: a finished task instance's record alone is not
        # enough (it reads "" when the try that ran is not the one the list shows).
        for ti in tis:
            states.setdefault(ti["task_id"], set()).add(str(ti["state"]))
            if ti["hostname"]:
                hosts.setdefault(ti["task_id"], set()).add(ti["hostname"])

    # The whole window and force_resubmit: this run has every session to send, whatever ran before.
    conf = {"batch_size": 5, "verify": True, "force_resubmit": True, "window_start": "2000-01-01T00:00:00Z"}
    run_id = cluster.trigger(DAG_ID, conf)
    assert cluster.wait_for_run(DAG_ID, run_id, on_poll=observe) == "success", cluster.log("scheduler")[
        -3000:
    ]
    _assert_stored_exactly_once(cluster, warehouse[1])
    runs = cluster.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns", params={"run_type": "scheduled"})
    assert runs["total_entries"] == 0, "unpausing to trigger must not also start a scheduled run"

    tis = cluster.task_instances(DAG_ID, run_id)
    submit = [ti for ti in tis if ti["task_id"] == "submit"]
    assert submit and all(ti["state"] == "success" for ti in submit), submit
    for ti in submit:
        tries = cluster.api(
            "GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/submit/{ti['map_index']}/tries"
        )
        hosts["submit"] = hosts.get("submit", set()) | {t["hostname"] for t in tries["task_instances"]}
    submit_hosts = hosts.get("submit", set()) - {""}
    assert submit_hosts == {"w1", "w2"}, f"submit shards ran on {submit_hosts}"
    assert "deferred" in states["wait_for_jobs"], states["wait_for_jobs"]
    trigger_logs = list(
        cluster.home.glob(f"logs/dag_id={DAG_ID}/run_id={run_id}/task_id=wait_for_jobs/*.trigger.*")
    )
    assert trigger_logs, "the wait never ran in the triggerer"
    assert "Trigger fired event" in trigger_logs[0].read_text()
    labels = {ti["rendered_map_index"] for ti in tis if ti["task_id"] == "submit"}
    assert all(label and label.startswith("shard ") for label in labels), labels


def test_the_connection_test_button_works_for_a_saved_port(cluster: Cluster) -> None:
    """The request the 3.3 UI's Test button sends for a stored connection: its form fields with the
    secret masked and the port as a number (an empty port goes as 0, which the API refuses as a
    different destination unless 0 is what is stored). The form shows the port for that reason."""
    body = {
        "connection_id": "learnosity_ui_test",
        "conn_type": "learnosity",
        "host": cluster.emulator_url,
        "login": CONSUMER_KEY,
        "password": CONSUMER_SECRET,
        "port": 443,
    }
    cluster.api("POST", "/api/v2/connections", json=body)
    try:
        right = cluster.api("POST", "/api/v2/connections/test", json={**body, "password": "***"})
        assert right["status"] is True, right
        wrong = cluster.api("POST", "/api/v2/connections/test", json={**body, "password": "a-wrong-secret"})
        assert wrong["status"] is False and "41003" in wrong["message"], wrong
        assert "a-wrong-secret" not in wrong["message"]
    finally:
        httpx.delete(
            f"{cluster.api_url}/api/v2/connections/learnosity_ui_test",
            headers={"Authorization": f"Bearer {cluster.token}"},
            timeout=30,
        ).raise_for_status()


def _sets_in_hand(cluster: Cluster) -> int:
    """SET requests the emulator is answering right now."""
    stats = httpx.get(f"{cluster.emulator_url}/_emulator/stats", timeout=30).json()
    return int(stats["answering"].get("set /sessions", 0))


def _set_faults(cluster: Cluster, faults: dict) -> None:
    httpx.post(f"{cluster.emulator_url}/_emulator/faults", json=faults, timeout=30).raise_for_status()


def test_a_worker_killed_while_the_plan_sends_loses_and_duplicates_nothing(
    cluster: Cluster, warehouse: tuple[str, int]
) -> None:
    """The plan sends batches as it stages them: its worker dies with SETs in flight (which the
    service still commits), the plan runs again on a worker, and every session is stored exactly
    once, the run green. Planning this warehouse takes about a second, so SETs are held for a few
    seconds until the kill: the plan is seen sending, not only having sent."""
    conf = {"batch_size": 1, "force_resubmit": True, "verify": True, "window_start": "2000-01-01T00:00:00Z"}
    faults = httpx.get(f"{cluster.emulator_url}/_emulator/faults", timeout=30).json()
    _set_faults(cluster, {**faults, "set_latency_s": 5.0})
    try:
        run_id = cluster.trigger(DAG_ID, conf)
        killed = ""
        deadline = time.monotonic() + 300
        while not killed and time.monotonic() < deadline:
            plan = next((ti for ti in cluster.task_instances(DAG_ID, run_id) if ti["task_id"] == "plan"), {})
            if plan.get("state") in {"success", "failed"}:
                break
            if plan.get("state") == "running" and plan.get("hostname") and _sets_in_hand(cluster):
                killed = plan["hostname"]  # w1 or w2, mid-plan, with its first batches in flight
                cluster.kill(f"worker{killed[1:]}")
                cluster.start_worker(int(killed[1:]))
            time.sleep(0.1)
    finally:
        _set_faults(cluster, faults)  # SETs already held keep their latency
    assert killed, "the plan was never seen running while it sent"

    state = cluster.wait_for_run(DAG_ID, run_id, timeout=900)
    assert state == "success", cluster.log("scheduler")[-3000:]
    _assert_stored_exactly_once(cluster, warehouse[1])
    tries = cluster.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/plan/-1/tries")
    assert tries["total_entries"] >= 2, "the killed plan must have run again"


def test_a_killed_worker_loses_and_duplicates_nothing(cluster: Cluster, warehouse: tuple[str, int]) -> None:
    conf = {"batch_size": 2, "force_resubmit": True, "verify": False, "window_start": "2000-01-01T00:00:00Z"}
    run_id = cluster.trigger(DAG_ID, conf)
    killed = threading.Event()

    def kill_when_submitting(tis: list[dict]) -> None:
        if killed.is_set():
            return
        if any(
            ti["task_id"] == "submit" and ti["state"] == "running" and ti["hostname"] == "w1" for ti in tis
        ):
            time.sleep(2)  # let it post a few batches first
            cluster.kill("worker1")
            killed.set()

    state = cluster.wait_for_run(DAG_ID, run_id, timeout=900, on_poll=kill_when_submitting)
    assert killed.is_set(), "worker 1 never ran a submit shard"
    assert state == "success", cluster.log("scheduler")[-3000:]
    _assert_stored_exactly_once(cluster, warehouse[1])
    stored = {s["session_id"]: s for s in _stored(cluster)}
    assert all(s["writes"] >= 2 for s in stored.values()), "force_resubmit must have re-sent every session"


def test_every_started_process_is_stopped(
    tmp_path: Path, redis_available: None, postgres_available: None
) -> None:
    """The harness stops what it started even when the body fails."""
    started: list[int] = []
    with pytest.raises(RuntimeError, match="boom"), running_cluster(tmp_path, "sqlite://") as running:
        started = [p.pid for p in running.procs.values()]
        raise RuntimeError("boom")
    assert started
    for pid in started:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
