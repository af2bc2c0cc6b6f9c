"""Where rows come from in the SQL warehouse: a table or view name, or a SELECT, named by config.

Both pipelines can read the warehouse (response rows, failed-submission blobs); table names are
checked here once, since they are interpolated into SQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Engine

# What a text value that was not valid UTF-8 reads as: the bytes are lost, the row is not.
UNDECODABLE: Final = "\ufffd"

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")


class SourceError(ValueError):
    """The configured source table or query cannot be read as the documented contract."""


def plain_table_name(table: str, setting: str) -> str:
    """`table` when it is a plain `[schema.]table` name; else a SourceError naming the setting."""
    if not _IDENTIFIER.fullmatch(table):
        raise SourceError(f"{setting} {table!r} is not a plain [schema.]table name")
    return table


@dataclass(frozen=True)
class Source:
    """Where response rows come from: a table or view name, or a SELECT (trusted admin config)."""

    table: str = "learnosity_responses"
    query: str | None = None

    def from_clause(self, alias: str = "src") -> str:
        if self.query:
            return f"({self.query.strip().rstrip(';')}) {alias}"
        return f"{plain_table_name(self.table, 'learnosity_source_table')} {alias}"


def _decode_leniently(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def _lenient_sqlite_text(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.text_factory = _decode_leniently


def read_bad_bytes_as_text(engine: Engine) -> Engine:
    """Make one undecodable text value mark its own row instead of failing the whole read.

    SQLite stores whatever bytes it is given and its driver refuses a whole result on the first
    invalid UTF-8 value; read through this engine, such bytes become `UNDECODABLE`, which the
    transform quarantines as `invalid_encoding`. Servers with a declared encoding (PostgreSQL)
    refuse bad bytes on write, and a value already holding U+FFFD was damaged the same way
    before it reached the warehouse.
    """
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _lenient_sqlite_text)
    return engine
