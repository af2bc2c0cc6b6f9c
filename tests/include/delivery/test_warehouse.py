"""Source names from configuration are checked before they reach SQL, naming the setting."""

from __future__ import annotations

import pytest

from learnosity_core.delivery.warehouse import Source, SourceError, plain_table_name


@pytest.mark.parametrize("table", ["x; DROP TABLE y", "a b", "1abc", "s.t.u", "", "t--"])
def test_table_names_cannot_smuggle_sql(table: str) -> None:
    with pytest.raises(SourceError, match=r"learnosity_source_table .* is not a plain"):
        Source(table=table).from_clause()


@pytest.mark.parametrize("table", ["learnosity_responses", "warehouse.responses", "_t1"])
def test_plain_names_are_used_as_they_are(table: str) -> None:
    assert Source(table=table).from_clause("c") == f"{table} c"
    assert plain_table_name(table, "any_setting") == table


def test_a_query_is_wrapped_as_a_subquery_without_its_semicolon() -> None:
    source = Source(table="ignored; DROP", query="  SELECT * FROM r WHERE x = 1; ")
    assert source.from_clause() == "(SELECT * FROM r WHERE x = 1) src"


def test_the_error_names_the_setting_it_came_from() -> None:
    with pytest.raises(SourceError, match=r"^learnosity_failed_submissions_table 'x y'"):
        plain_table_name("x y", "learnosity_failed_submissions_table")
