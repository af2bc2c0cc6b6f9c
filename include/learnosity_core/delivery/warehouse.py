"""Where rows come from in the SQL warehouse: a table or view name, or a SELECT, named by config.

Both pipelines can read the warehouse (response rows, failed-submission blobs); table names are
checked here once, since they are interpolated into SQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
