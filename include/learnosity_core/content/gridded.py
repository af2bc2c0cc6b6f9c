"""What a gridded entry may hold, given the grid settings its question states.

The endpoint's own rule is the base: "the number entered, including . as the decimal point",
with an optional sign. A setting the template states narrows or widens it; one it leaves out
changes nothing:
- `columns`: the entry fills at most that many columns; a sign sits in the separate plus/minus
  column, every other character (digit, `.`, `/`) takes a column of its own.
- `range`: the digits each column offers, `"min-max"` (Learnosity's default is `"0-9"`).
- `plus_minus_column: false`: no sign.
- `floating_decimal` / `fixed_decimal`: when either is stated, a decimal point only if one is true.
- `fraction_slash: true`: an entry may also be a fraction, digits `/` digits (never without it).
Settings are read from the question's `options` (where Learnosity's schema keeps them) or the
question itself. The pattern is plain ASCII and anchored, so Python's `re` and Arrow's RE2 read it alike.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict

_RANGE = re.compile(r"([0-9])-([0-9])")


class GridSettings(BaseModel):
    """The grid a gridded question states; None (or False for `fraction`) where it says nothing."""

    model_config = ConfigDict(frozen=True)

    columns: int | None = None
    digits: tuple[int, int] | None = None
    sign: bool | None = None
    decimal_point: bool | None = None
    fraction: bool = False


def _flag(settings: Mapping[str, Any], name: str) -> bool | None:
    value = settings.get(name)
    return value if isinstance(value, bool) else None


def read_grid(fields: Mapping[str, Any]) -> GridSettings:
    """The grid settings of a gridded question's fields."""
    options = fields.get("options")
    settings = {**fields, **options} if isinstance(options, Mapping) else fields
    columns = settings.get("columns")
    span = settings.get("range")
    digits = _RANGE.fullmatch(span) if isinstance(span, str) else None
    decimals = [
        f for f in (_flag(settings, "floating_decimal"), _flag(settings, "fixed_decimal")) if f is not None
    ]
    return GridSettings(
        columns=columns
        if isinstance(columns, int) and not isinstance(columns, bool) and columns > 0
        else None,
        digits=(int(digits[1]), int(digits[2])) if digits and digits[1] <= digits[2] else None,
        sign=_flag(settings, "plus_minus_column"),
        decimal_point=any(decimals) if decimals else None,
        fraction=settings.get("fraction_slash") is True,
    )


@cache
def entry_pattern(grid: GridSettings) -> str:
    """The entries the grid can hold, its width aside (see `entry_width`)."""
    digit = "[{}-{}]".format(*grid.digits) if grid.digits else "[0-9]"
    number = rf"{digit}+(?:\.{digit}*)?|\.{digit}+" if grid.decimal_point is not False else f"{digit}+"
    fraction = f"|{digit}+/{digit}+" if grid.fraction else ""
    sign = "[+-]?" if grid.sign is not False else ""
    return f"^{sign}(?:{number}{fraction})$"


def entry_width(raw: str) -> int:
    """Columns an entry fills: its characters, less a sign (which has a column of its own)."""
    return len(raw) - raw.startswith(("+", "-"))


_SHAPE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+|[0-9]+/[0-9]+)")


def entry_problem(grid: GridSettings, raw: str) -> str | None:
    """Why the grid cannot hold the entry, or None."""
    fits = re.fullmatch(entry_pattern(grid), raw) is not None
    if fits and (grid.columns is None or entry_width(raw) <= grid.columns):
        return None
    if fits:
        return f"{raw!r} needs {entry_width(raw)} columns, the grid has {grid.columns}"
    if _SHAPE.fullmatch(raw) is None:
        return f"{raw!r} is not a number with '.' as decimal point"
    if "/" in raw and not grid.fraction:
        return f"{raw!r} has a fraction slash, but the grid has no fraction_slash"
    if raw.startswith(("+", "-")) and grid.sign is False:
        return f"{raw!r} has a sign, but the grid has no plus_minus_column"
    if "." in raw and grid.decimal_point is False:
        return f"{raw!r} has a decimal point, but the grid has neither floating_decimal nor fixed_decimal"
    low, high = grid.digits or (0, 9)
    return f"{raw!r} has a digit outside the grid's range {low}-{high}"
