"""The shared text rules: encoding round-trips and counts."""

from __future__ import annotations

import pytest

from learnosity_core.content.question_types import (
    RESPONSE_KIND,
    count_characters,
    count_words,
    decode_text,
    encode_text,
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
