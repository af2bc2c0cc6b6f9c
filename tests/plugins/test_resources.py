"""Engines come from the connection's own hook, so extra-based authentication survives."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from learnosity_provider import resources
from lrn_testing.airflow_env import REPO


def test_the_warehouse_engine_is_the_postgres_hooks_own(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = sa.make_url(postgres_url)
    conn = {
        "conn_type": "postgres",
        "host": url.host,
        "port": url.port,
        "login": url.username,
        "schema": url.database,
        # only the hook knows this extra: it becomes the engine's connect query
        "extra": {"sqlalchemy_query": {"application_name": "learnosity-warehouse"}},
    }
    monkeypatch.setenv("AIRFLOW_CONN_LEARNOSITY_WAREHOUSE", json.dumps(conn))
    engine = resources.sql_engine("learnosity_warehouse")
    with engine.connect() as db:
        name = db.execute(sa.text("SELECT current_setting('application_name')")).scalar_one()
    assert name == "learnosity-warehouse"
    assert engine.url.database == url.database
    engine.dispose()


def test_a_postgres_ledger_works_through_the_hooks_engine(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = sa.make_url(postgres_url)
    conn = {"conn_type": "postgres", "host": url.host, "port": url.port, "login": url.username}
    monkeypatch.setenv("AIRFLOW_CONN_LEARNOSITY_STATE", json.dumps({**conn, "schema": url.database}))
    ledger = resources.ledger()
    assert ledger.sessions_of_run("nothing-yet") == []


def test_no_operator_builds_an_engine_from_a_uri_string() -> None:
    """`create_engine(hook.get_uri())` loses key pairs and other extras; only the SQLite ledger,
    whose URL is a file path, may be opened from one."""
    offenders = []
    for path in Path(REPO, "plugins").rglob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if re.search(r"create_engine\(|\.get_uri\(\)", line) and "Ledger.from_url" not in line:
                offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert offenders == []
