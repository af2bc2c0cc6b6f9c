"""The canonical per-response rules, one failing input per rule."""

from __future__ import annotations

from typing import Any

import pytest

from learnosity_core.content.questions import find_questions
from learnosity_core.content.responses import check_response

QUESTIONS = find_questions(
    {
        "questions": [
            {"id": "mcq", "type": "mcq", "options": [{"value": "0"}, {"value": "1"}]},
            {"id": "short", "type": "shorttext"},
            {"id": "plain", "type": "plaintext"},
            {"id": "grid", "type": "gridded"},
            {"id": "matrix", "type": "choicematrix", "stems": ["a", "b"], "options": ["x", "y"]},
            {"id": "order", "type": "orderlist", "list": ["a", "b", "c", "d"]},
            {"id": "formula", "type": "clozeformula", "response_count": 1},
            {
                "id": "assoc",
                "type": "association",
                "stimulus_list": ["s1", "s2"],
                "possible_responses": ["p", "q"],
            },
        ]
    }
)


def _code(response: dict[str, Any]) -> str | None:
    problem = check_response(QUESTIONS, response)
    return problem.code if problem else None


@pytest.mark.parametrize(
    "response",
    [
        {"question_id": "mcq", "type": "array", "value": ["0", "1"]},
        {"question_id": "short", "type": "string", "value": "makka+pakka", "characterCount": 11},
        {"question_id": "plain", "type": "string", "value": "upsy+daisy", "wordCount": 2},
        {"question_id": "grid", "type": "string", "value": "1234.56"},
        {"question_id": "matrix", "type": "array", "value": [[0, 1], None]},
        {"question_id": "order", "type": "array", "value": [3, 1, 0, 2]},
        {"question_id": "formula", "type": "array", "value": [["x+1"]], "responses": [["x+1"]]},
        {"question_id": "assoc", "type": "array", "value": ["q", None]},
        {"question_id": "short", "type": "string", "value": None},
    ],
)
def test_valid_responses_pass(response: dict[str, Any]) -> None:
    assert _code(response) is None


@pytest.mark.parametrize(
    ("response", "code"),
    [
        ({"question_id": "nope", "type": "array", "value": ["0"]}, "unknown_question"),
        ({"question_id": "mcq", "type": "string", "value": "0"}, "wrong_kind"),
        ({"question_id": "mcq", "type": "array"}, "invalid_value"),
        ({"question_id": "mcq", "type": "array", "value": ["2"]}, "invalid_value"),
        (
            {"question_id": "short", "type": "string", "value": "makka pakka", "characterCount": 11},
            "not_encoded",
        ),
        (
            {"question_id": "short", "type": "string", "value": "makka+pakka", "characterCount": 10},
            "count_mismatch",
        ),
        ({"question_id": "plain", "type": "string", "value": "upsy+daisy"}, "count_mismatch"),
        ({"question_id": "grid", "type": "string", "value": "12,5"}, "invalid_value"),
        ({"question_id": "matrix", "type": "array", "value": [[0, 2], [1]]}, "invalid_value"),
        ({"question_id": "matrix", "type": "array", "value": [[0]]}, "invalid_value"),
        ({"question_id": "order", "type": "array", "value": [0, 0, 1, 2]}, "invalid_value"),
        ({"question_id": "formula", "type": "array", "value": [["x+1"]]}, "missing_responses"),
        ({"question_id": "assoc", "type": "array", "value": ["p"]}, "invalid_value"),
    ],
)
def test_each_rule_rejects_its_input(response: dict[str, Any], code: str) -> None:
    assert _code(response) == code
