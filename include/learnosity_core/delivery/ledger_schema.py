"""The ledger's schema moves forward by Alembic migrations (`migrations/versions`), never by
`create_all`, so an existing ledger keeps its rows when a release adds a table or a column.

`upgrade` runs when a ledger is opened (the first task of a run does it) and by `make migrate`.
Several workers may open the ledger at once: on PostgreSQL they wait for each other on an
advisory lock; on SQLite the file's write lock serialises them. The version is kept in its own
table, so a ledger inside Airflow's metadata database never touches Airflow's `alembic_version`.
"""

from __future__ import annotations

from importlib import resources
from typing import Final

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

VERSION_TABLE: Final = "learnosity_ledger_version"
_LOCK_KEY: Final = 0x6C65646765  # "ledge": any constant the ledger's migrations alone use


_UPGRADED: set[str] = set()  # databases this process already brought to the newest revision


def upgrade(engine: Engine) -> None:
    """Bring the ledger's tables to the newest revision, keeping every row (once per process
    and database)."""
    key = engine.url.render_as_string(hide_password=True)
    if key in _UPGRADED:
        return
    config = Config()
    config.set_main_option("script_location", str(resources.files("learnosity_core.delivery") / "migrations"))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        elif conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # take the write lock before reading the version
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    _UPGRADED.add(key)


def current(engine: Engine) -> str | None:
    """The ledger's revision, or None for one made before migrations (or not made yet)."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(VERSION_TABLE):
            return None
        return conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
