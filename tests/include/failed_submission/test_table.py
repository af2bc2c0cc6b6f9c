"""Failed-submission blobs from a warehouse table; the table name is checked before any SQL runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from learnosity_core.delivery.warehouse import SourceError
from learnosity_core.failed_submission.table import TABLE_SETTING, table_blobs


@pytest.fixture
def engine(tmp_path: Path) -> sa.Engine:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'warehouse.db'}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE failed_blobs (blob_id, blob TEXT, note TEXT)"))
        conn.execute(
            sa.text("INSERT INTO failed_blobs VALUES (:id, :blob, 'x')"),
            [
                {"id": "row-1", "blob": "eyJhIjoxfQ=="},
                {"id": 2, "blob": "  e30=\n"},
                {"id": "row-3", "blob": ""},
            ],
        )
        conn.execute(sa.text("CREATE TABLE y (v INTEGER)"))
    return engine


def test_every_row_is_read_as_text(engine: sa.Engine) -> None:
    assert sorted(table_blobs(engine, "failed_blobs")) == [
        ("2", "  e30=\n"),  # kept as stored: the blob decoder drops whitespace
        ("row-1", "eyJhIjoxfQ=="),
        ("row-3", ""),
    ]


def test_a_schema_qualified_name_is_accepted(engine: sa.Engine) -> None:
    assert len(table_blobs(engine, "main.failed_blobs")) == 3


def test_an_empty_table_has_no_blobs(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE empty_blobs (blob_id TEXT, blob TEXT)"))
    assert table_blobs(engine, "empty_blobs") == []


@pytest.mark.parametrize(
    "name",
    ["x; DROP TABLE y", "failed_blobs --", "1table", "a.b.c", "", "failed blobs", "(SELECT 1)"],
)
def test_a_name_that_is_not_a_plain_table_is_refused_naming_the_setting(engine: sa.Engine, name: str) -> None:
    with pytest.raises(SourceError) as raised:
        table_blobs(engine, name)
    assert TABLE_SETTING == "learnosity_failed_submissions_table"
    assert str(raised.value).startswith(f"learnosity_failed_submissions_table {name!r} ")
    assert "plain [schema.]table name" in str(raised.value)
    assert sa.inspect(engine).has_table("y")  # nothing ran


def test_a_name_with_a_trailing_newline_is_refused(engine: sa.Engine) -> None:
    with pytest.raises(SourceError, match=TABLE_SETTING):
        table_blobs(engine, "blobs\n")
