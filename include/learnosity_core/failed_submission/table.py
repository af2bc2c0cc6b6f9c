"""Failed-submission blobs kept in a warehouse table (`blob_id`, `blob`) instead of files."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from learnosity_core.delivery.warehouse import plain_table_name

TABLE_SETTING = "learnosity_failed_submissions_table"


def table_blobs(engine: Engine, table: str) -> list[tuple[str, str]]:
    """Every `(blob_id, blob)` row of `table` (a plain `[schema.]table` name)."""
    name = plain_table_name(table, TABLE_SETTING)
    with engine.connect() as conn:
        rows = conn.execute(sa.text(f"SELECT blob_id, blob FROM {name}"))
        return [(str(blob_id), str(blob)) for blob_id, blob in rows]
