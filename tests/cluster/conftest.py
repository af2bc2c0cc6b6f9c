"""One real cluster for every test in this folder (starting one takes about 20 s)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from learnosity_devtools.emulator.seed import demo_templates
from learnosity_devtools.sample_data import sample_rows, seed_warehouse
from lrn_testing.cluster import Cluster, running_cluster

LEARNERS = 120


@pytest.fixture(scope="session")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, int]:
    """A seeded SQLite warehouse and the number of sessions in it that are valid."""
    path = tmp_path_factory.mktemp("warehouse") / "warehouse.db"
    rows = sample_rows(demo_templates(), learners=LEARNERS, invalid=False)
    seed_warehouse(sa.create_engine(f"sqlite:///{path}"), rows)
    sessions = rows.groupby(["activity_id", "user_id"]).ngroups
    return json.dumps({"conn_type": "sqlite", "host": str(path)}), sessions


@pytest.fixture(scope="session")
def cluster(
    tmp_path_factory: pytest.TempPathFactory,
    warehouse: tuple[str, int],
    redis_available: None,
    postgres_available: None,
) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("cluster")
    # Slow SET answers and jobs keep submission and the wait long enough to observe and to fault.
    # A job takes longer than the run needs to start the wait after the plan's first post: the plan
    # posts every batch (about 10 s), then review, the submit tasks (following its jobs until none
    # ended for `follow.LINGER_S`, 10 s: none ends that soon) and the wait start, about 15 s after
    # the last post; so the wait always finds jobs running and defers.
    emulator_env = {"EMULATOR_JOB_DELAY_S": "45", "EMULATOR_FAULTS": json.dumps({"set_latency_s": 0.4})}
    # One rate budget in Redis for every sender, as a production cluster has: the plan then sends
    # while it stages (`send_while_planning`), so the runs here overlap planning and sending.
    shared = {"rate_limiter_url": "redis://127.0.0.1:6379/13"}
    with running_cluster(tmp, warehouse[0], emulator_env, shared) as running:
        yield running
