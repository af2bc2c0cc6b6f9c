"""The canonical per-response rules, one failing input per rule, on the seed's and Learnosity's shapes."""

from __future__ import annotations

from typing import Any

import pytest

from learnosity_core.content.question_types import encode_text
from learnosity_core.content.questions import TemplateQuestion, find_questions, read_template
from learnosity_core.content.responses import check_response, response_warnings

QUESTIONS = find_questions(
    {
        "questions": [
            {
                "id": "mcq",
                "type": "mcq",
                "options": [{"value": "0"}, {"value": "1"}],
                "multiple_responses": True,
            },
            {"id": "short", "type": "shorttext"},
            {"id": "plain", "type": "plaintext"},
            {"id": "grid", "type": "gridded"},
            {
                "id": "matrix",
                "type": "choicematrix",
                "stems": ["a", "b"],
                "options": ["x", "y"],
                "multiple_responses": True,
            },
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


# --- every constraint of a template in Learnosity's published shapes (real_shapes) -----------------


@pytest.fixture(scope="module")
def real(real_shapes: Any) -> dict[str, TemplateQuestion]:
    return read_template(real_shapes.template()).questions


def _array(qid: str, value: Any, **extra: Any) -> dict[str, Any]:
    return {"question_id": qid, "type": "array", "value": value, **extra}


def _text(qid: str, raw: str, **counts: int) -> dict[str, Any]:
    return {"question_id": qid, "type": "string", "value": encode_text(raw), **counts}


@pytest.mark.parametrize(
    "response",
    [
        _array("mcq-single", ["2"]),
        _array("mcq-multiple", ["two", "five"]),
        _array("mcq-multiple", ["four"]),
        _array("mcq-no-values", ["1"]),  # an option without a value is stored as its index
        _array("matrix-single", [[0], [1], None]),
        _array("matrix-multiple", [[0, 2], [1]]),
        _array("association-groups", ["Paris", "Tokyo", None]),  # the union of the groups
        _array("association-flat", [None, "[Choice C]"]),
        _array("orderlist", [3, 1, 0, 2]),
        _array("cloze-one", ["happy"]),
        _array("inline-two", ["Berlin", None]),
        _array("formula-three", [["1"], ["2"], ["3"]], responses=[["1"], ["2"], ["3"]]),
        {"question_id": "grid-fraction", "type": "string", "value": "3/4"},
        {"question_id": "grid-fraction", "type": "string", "value": "1234"},
        {"question_id": "grid-signed", "type": "string", "value": "-12.5"},
        {"question_id": "grid-signed", "type": "string", "value": "+.5"},
        _text("short", "Tokyo", characterCount=5),
        _text("plain", "one two three", wordCount=3),
        _text("essay", "<p>cells divide</p>", wordCount=2),
        _text("letter", "Dear author", wordCount=2),
        _text("formula", "\\frac{3}{4}"),
    ],
    ids=lambda r: f"{r['question_id']}={r['value']}",
)
def test_real_shapes_accept_what_their_questions_allow(
    real: dict[str, TemplateQuestion], response: dict[str, Any]
) -> None:
    assert check_response(real, response) is None


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (_array("mcq-single", ["0", "2"]), "mcq value takes one option (multiple_responses is false), got 2"),
        (_array("mcq-single", ["2", None]), "mcq value entries must be strings"),
        (_array("mcq-multiple", ["two", None]), "mcq value entries must be strings"),
        (_array("mcq-multiple", ["2"]), "'2' is not one of the question's options"),
        (_array("mcq-no-values", ["A"]), "'A' is not one of the question's options"),
        (
            _array("matrix-single", [[0, 1], [1], [0]]),
            "stem 0 takes one option (multiple_responses is false), got 2",
        ),
        (_array("matrix-multiple", [[0], [3]]), "option index 3 is out of range (0-2)"),
        (
            _array("association-groups", ["Paris", "Berlin", None]),
            "'Berlin' is not one of the question's options",
        ),
        (_array("association-groups", ["Paris", "Tokyo"]), "needs 3 entries, got 2"),
        (_array("orderlist", [0, 1, 2]), "must be a permutation of 0..3"),
        (_array("cloze-one", ["happy", "glad"]), "needs 1 entries, got 2"),
        (_array("inline-two", ["Berlin"]), "needs 2 entries, got 1"),
        (_array("formula-three", [["1"]], responses=[["1"], ["2"]]), "needs 3 response boxes, got 2"),
        (
            {"question_id": "grid-fraction", "type": "string", "value": "12345"},
            "needs 5 columns, the grid has 4",
        ),
        ({"question_id": "grid-fraction", "type": "string", "value": "1.5"}, "has a decimal point"),
        ({"question_id": "grid-fraction", "type": "string", "value": "-3"}, "no plus_minus_column"),
        ({"question_id": "grid-signed", "type": "string", "value": "1/2"}, "no fraction_slash"),
        (
            {"question_id": "grid-signed", "type": "string", "value": "16"},
            "digit outside the grid's range 0-5",
        ),
        (
            {"question_id": "grid-signed", "type": "string", "value": "-1234.5"},
            "needs 6 columns, the grid has 5",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else f"{v['question_id']}={v['value']}",
)
def test_real_shapes_reject_what_their_questions_do_not_allow(
    real: dict[str, TemplateQuestion], response: dict[str, Any], message: str
) -> None:
    problem = check_response(real, response)
    assert problem is not None and message in problem.message


@pytest.mark.parametrize(
    ("response", "warnings"),
    [
        (_text("short", "Tokyo Japan", characterCount=11), ["over_max_length"]),  # 11 characters > 10
        (_text("short", "Tokyo, Jp", characterCount=9), []),
        (
            _text("plain", "one two three four five six", wordCount=6),
            ["over_max_length"],
        ),  # words, not characters
        (_text("plain", "a b c d e", wordCount=5), []),
        (_text("essay", "<p>" + " ".join(["word"] * 9) + "</p>", wordCount=9), ["over_max_length"]),
        (_text("letter", " ".join(["word"] * 500), wordCount=500), []),  # well under the default 10,000
        (_text("formula", "x" * 500), []),
        ({"question_id": "short", "type": "string", "value": None}, []),
    ],
)
def test_longer_text_is_sent_with_a_warning(
    real: dict[str, TemplateQuestion], response: dict[str, Any], warnings: list[str]
) -> None:
    assert check_response(real, response) is None  # never a problem: a paper answer is what was written
    assert response_warnings(real[response["question_id"]], response) == warnings
