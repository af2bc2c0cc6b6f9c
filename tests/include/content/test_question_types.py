"""The shared text rules: encoding round-trips, counts, gridded numbers, template questions."""

from __future__ import annotations

import pytest

from learnosity_core.content.question_types import (
    RESPONSE_KIND,
    count_characters,
    count_words,
    decode_text,
    encode_text,
    is_gridded_number,
)


def test_thirteen_types_with_the_seed_kinds() -> None:
    assert len(RESPONSE_KIND) == 13
    arrays = {
        "association",
        "clozeinlinetext",
        "clozetext",
        "choicematrix",
        "clozeformula",
        "mcq",
        "orderlist",
    }
    assert {t for t, kind in RESPONSE_KIND.items() if kind == "array"} == arrays


@pytest.mark.parametrize("raw", ["makka pakka", "  two  spaces ", "a+b=c & d%", "Zürich 東京", "line\nbreak"])
def test_encoding_uses_plus_for_spaces_and_round_trips(raw: str) -> None:
    encoded = encode_text(raw)
    assert " " not in encoded and decode_text(encoded) == raw
    assert encode_text("makka pakka") == "makka+pakka"


def test_counts_follow_the_seed_examples() -> None:
    assert count_characters("makka pakka") == 11
    assert count_words("upsy daisy", "plaintext") == 2
    assert count_words("<p>one</p><p>two&nbsp;three</p>", "longtextV2") == 3  # tags separate words
    assert count_words("<p>one</p>", "plaintext") == 1  # plain text has no markup to strip


@pytest.mark.parametrize(
    ("raw", "ok"),
    [
        ("1234.56", True),
        (".5", True),
        ("-3", True),
        ("12,5", False),
        ("12\n", False),
        ("١٢", False),
        ("", False),
    ],
)
def test_gridded_numbers(raw: str, ok: bool) -> None:
    assert is_gridded_number(raw) is ok
