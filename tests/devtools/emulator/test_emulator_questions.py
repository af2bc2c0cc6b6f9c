"""The emulator reads question fields real Learnosity questions carry and its seed does not."""

from __future__ import annotations

from typing import Any

import pytest

from learnosity_devtools.emulator.codes import INVALID_VALUE, Rejected
from learnosity_devtools.emulator.questions import Question, questions_in
from learnosity_devtools.emulator.responses import check_response


def _only(question: dict[str, Any]) -> Question:
    (found,) = questions_in({"items": [{"reference": "item", "questions": [question]}]}).values()
    return found


def _verdict(question: dict[str, Any], value: Any) -> str | None:
    q = _only(question)
    try:
        check_response({q.id: q}, {"question_id": q.id, "type": "array", "value": value})
    except Rejected as exc:
        return exc.code
    return None


def test_association_choices_may_come_in_groups() -> None:
    question = {
        "reference": "q1",
        "data": {
            "type": "association",
            "stimulus_list": ["France", "Japan"],
            "possible_response_groups": [
                {"title": "Europe", "responses": ["Paris", "Berlin"]},
                {"title": "Asia", "responses": ["Tokyo"]},
            ],
        },
    }
    assert _only(question) == Question(
        "q1", "association", positions=2, choices=frozenset({"Paris", "Berlin", "Tokyo"})
    )
    assert _verdict(question, ["Paris", "Tokyo"]) is None
    assert _verdict(question, ["Paris", "Rome"]) == INVALID_VALUE


def test_an_mcq_option_without_a_value_is_stored_as_its_index() -> None:
    question = {"response_id": "q2", "type": "mcq", "options": [{"label": "A"}, {"label": "B", "value": "b"}]}
    assert _only(question).choices == frozenset({"0", "b"})
    assert _verdict(question, ["0"]) is None
    assert _verdict(question, ["1"]) == INVALID_VALUE


@pytest.mark.parametrize(("fraction_slash", "accepted"), [(True, True), (False, False)])
def test_a_gridded_fraction_needs_the_slash_column(fraction_slash: bool, accepted: bool) -> None:
    q = _only({"id": "q3", "type": "gridded", "fraction_slash": fraction_slash})
    try:
        check_response({q.id: q}, {"question_id": q.id, "type": "string", "value": "3/4"})
    except Rejected:
        assert not accepted
    else:
        assert accepted


def test_the_first_question_with_an_id_counts_and_other_types_are_not_questions() -> None:
    template = {
        "items": [
            {"reference": "a", "questions": [{"id": "q4", "type": "shorttext"}]},
            {"reference": "b", "questions": [{"id": "q4", "type": "mcq"}, {"id": "q5", "type": "audio"}]},
        ]
    }
    assert {qid: q.type for qid, q in questions_in(template).items()} == {"q4": "shorttext"}
