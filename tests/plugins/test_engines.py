"""The warehouse engine comes from the connection's own hook, so what its extras hold is used."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from learnosity_provider import resources


def _connect_as(monkeypatch: pytest.MonkeyPatch, postgres_url: str, conn_type: str, extra: dict) -> None:
    url = sa.make_url(postgres_url)
    conn = {
        "conn_type": conn_type,
        "host": url.host,
        "port": url.port,
        "login": url.username,
        "schema": url.database,
        "extra": extra,
    }
    monkeypatch.setenv("AIRFLOW_CONN_LEARNOSITY_WAREHOUSE", json.dumps(conn))


def _application_name(engine: sa.Engine) -> str:
    with engine.connect() as db:
        name: str = db.execute(sa.text("SELECT current_setting('application_name')")).scalar_one()
    engine.dispose()
    return name


def test_connect_arguments_in_the_extras_reach_the_warehouse(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Redshift connection (PostgreSQL protocol, here the local server) passes its extras as
    connect arguments only through its hook's engine; the URI string `get_uri()` drops them, as
    it drops Snowflake's private key and BigQuery's key file."""
    _connect_as(monkeypatch, postgres_url, "redshift", {"application_name": "learnosity-warehouse"})
    assert _application_name(resources.sql_engine("learnosity_warehouse")) == "learnosity-warehouse"
    from_uri = sa.create_engine(resources.sql_url("learnosity_warehouse"))
    assert _application_name(from_uri) != "learnosity-warehouse", "the URI alone loses the extra"


def test_a_postgres_warehouse_works_through_its_hooks_engine(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _connect_as(
        monkeypatch, postgres_url, "postgres", {"sqlalchemy_query": {"application_name": "learnosity-pg"}}
    )
    engine = resources.sql_engine("learnosity_warehouse")
    assert engine.url.database == sa.make_url(postgres_url).database
    assert _application_name(engine) == "learnosity-pg"
