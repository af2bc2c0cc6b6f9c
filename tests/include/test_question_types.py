"""The shared text rules: encoding round-trips, counts, gridded numbers, template questions."""

from __future__ import annotations

import pytest

from learnosity_core.question_types import (
    RESPONSE_KIND,
    count_characters,
    count_words,
    decode_text,
    encode_text,
    is_gridded_number,
)
from learnosity_core.template import find_questions


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


def test_questions_are_found_wherever_they_sit_in_the_template() -> None:
    template = {
        "items": [
            {
                "reference": "i1",
                "type": "not-a-question",
                "questions": [{"id": "q1", "type": "mcq", "options": [{"value": "0"}, {"value": "1"}]}],
            },
            {"nested": {"deeper": [{"id": "q2", "type": "orderlist", "list": ["a", "b", "c"]}]}},
            {"id": "q3", "type": "choicematrix", "stems": ["s1", "s2"], "options": ["o1", "o2", "o3"]},
            {
                "id": "q4",
                "type": "association",
                "stimulus_list": ["x", "y"],
                "possible_responses": ["p", "q"],
            },
        ]
    }
    questions = find_questions(template)
    assert set(questions) == {"q1", "q2", "q3", "q4"}
    assert questions["q1"].allowed_values == {"0", "1"}
    assert questions["q2"].list_length == 3
    assert (questions["q3"].slot_count, questions["q3"].option_count) == (2, 3)
    assert (questions["q4"].slot_count, questions["q4"].allowed_values) == (2, {"p", "q"})
