"""Gridded entries: the endpoint's base rule, and each grid setting narrowing or widening it."""

from __future__ import annotations

import re

import pytest

from learnosity_core.content.gridded import GridSettings, entry_pattern, entry_problem, entry_width, read_grid

BASE = GridSettings()


@pytest.mark.parametrize(
    ("raw", "ok"),
    [
        ("1234.56", True),
        (".5", True),
        ("-3", True),
        ("7.", True),
        ("12,5", False),
        ("12\n", False),
        ("١٢", False),
        ("", False),
        ("1/2", False),  # no fraction slash without `fraction_slash`
    ],
)
def test_without_settings_an_entry_is_a_number_with_a_dot(raw: str, ok: bool) -> None:
    assert (entry_problem(BASE, raw) is None) is ok
    assert (re.fullmatch(entry_pattern(BASE), raw) is not None) is ok


def test_settings_are_read_from_options_or_the_question() -> None:
    under_options = read_grid(
        {"type": "gridded", "options": {"columns": 4, "range": "0-5", "fraction_slash": True}}
    )
    assert under_options == GridSettings(columns=4, digits=(0, 5), fraction=True)
    top_level = read_grid(
        {"type": "gridded", "columns": 6, "plus_minus_column": False, "fixed_decimal": True}
    )
    assert top_level == GridSettings(columns=6, sign=False, decimal_point=True)
    both_decimals_off = read_grid({"floating_decimal": False, "fixed_decimal": False})
    assert both_decimals_off.decimal_point is False


@pytest.mark.parametrize(
    "fields",
    [
        {"columns": 0},
        {"columns": True},
        {"columns": "5"},
        {"range": "9-0"},
        {"range": "0-10"},
        {"range": [0, 9]},
    ],
)
def test_unreadable_settings_state_nothing(fields: dict[str, object]) -> None:
    assert read_grid(fields) == BASE


@pytest.mark.parametrize(
    ("grid", "raw", "reason"),
    [
        (GridSettings(columns=3), "1234", "'1234' needs 4 columns, the grid has 3"),
        (GridSettings(columns=3), "12.5", "'12.5' needs 4 columns, the grid has 3"),
        (GridSettings(sign=False), "-3", "'-3' has a sign, but the grid has no plus_minus_column"),
        (GridSettings(decimal_point=False), "1.5", "neither floating_decimal nor fixed_decimal"),
        (BASE, "3/4", "'3/4' has a fraction slash, but the grid has no fraction_slash"),
        (GridSettings(digits=(0, 5)), "16", "'16' has a digit outside the grid's range 0-5"),
        (GridSettings(fraction=True), "1.5/2", "'1.5/2' is not a number with '.' as decimal point"),
    ],
)
def test_each_setting_rejects_what_the_grid_cannot_hold(grid: GridSettings, raw: str, reason: str) -> None:
    problem = entry_problem(grid, raw)
    assert problem is not None and reason in problem


@pytest.mark.parametrize(
    ("grid", "raw"),
    [
        (GridSettings(columns=3), "-123"),  # the sign has a column of its own
        (GridSettings(columns=3, sign=True), "+.5"),
        (GridSettings(fraction=True, columns=3), "3/4"),
        (GridSettings(fraction=True, sign=True), "-12/5"),
        (GridSettings(decimal_point=True, digits=(1, 3)), "3.21"),
        (GridSettings(decimal_point=False), "42"),
    ],
)
def test_what_the_grid_holds_passes(grid: GridSettings, raw: str) -> None:
    assert entry_problem(grid, raw) is None


def test_width_leaves_out_the_sign() -> None:
    assert [entry_width(v) for v in ("-12.5", "+3", "3/4", "")] == [4, 1, 3, 0]
