"""Question objects are found wherever they sit in an opaque session template, in every shape."""

from __future__ import annotations

from typing import Any

import pytest

from learnosity_core.content.gridded import GridSettings
from learnosity_core.content.question_types import SUPPORTED_TYPES
from learnosity_core.content.questions import TemplateQuestion, find_questions, read_template


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


# --- templates as Learnosity publishes them (real_shapes) ---------------------------------------------


def _expected() -> dict[str, TemplateQuestion]:
    """What each question of `real_shapes` states, read by hand from its fields."""
    q = TemplateQuestion
    return {
        "mcq-single": q(id="mcq-single", type="mcq", allowed_values=frozenset("0123")),
        "mcq-multiple": q(
            id="mcq-multiple",
            type="mcq",
            allowed_values=frozenset({"two", "four", "five"}),
            multiple_responses=True,
        ),
        "mcq-no-values": q(id="mcq-no-values", type="mcq", allowed_values=frozenset({"0", "1"})),
        "matrix-single": q(id="matrix-single", type="choicematrix", slot_count=3, option_count=2),
        "matrix-multiple": q(
            id="matrix-multiple", type="choicematrix", slot_count=2, option_count=3, multiple_responses=True
        ),
        "association-groups": q(
            id="association-groups",
            type="association",
            slot_count=3,
            allowed_values=frozenset({"Paris", "Madrid", "Tokyo", "Lima"}),
        ),
        "association-flat": q(
            id="association-flat",
            type="association",
            slot_count=2,
            allowed_values=frozenset({"[Choice A]", "[Choice B]", "[Choice C]"}),
        ),
        "orderlist": q(id="orderlist", type="orderlist", list_length=4),
        "cloze-one": q(id="cloze-one", type="clozetext", slot_count=1),
        "inline-two": q(id="inline-two", type="clozeinlinetext", slot_count=2),
        "formula-three": q(id="formula-three", type="clozeformula", slot_count=3),
        "grid-fraction": q(
            id="grid-fraction",
            type="gridded",
            grid=GridSettings(columns=4, digits=(0, 9), sign=False, decimal_point=False, fraction=True),
        ),
        "grid-signed": q(
            id="grid-signed",
            type="gridded",
            grid=GridSettings(columns=5, digits=(0, 5), sign=True, decimal_point=True),
        ),
        "short": q(id="short", type="shorttext", max_length=10),
        "plain": q(id="plain", type="plaintext", max_length=5),
        "essay": q(id="essay", type="longtextV2", max_length=8),
        "letter": q(id="letter", type="longtext", max_length=10_000),  # Learnosity's default
        "formula": q(id="formula", type="formulaV2"),
    }


def test_every_published_shape_is_read_with_what_it_states(real_shapes: Any) -> None:
    reading = read_template(real_shapes.template())
    assert list(reading.questions) == list(real_shapes.QUESTIONS)  # template order
    assert reading.questions == _expected()
    assert {q.type for q in reading.questions.values()} == SUPPORTED_TYPES
    assert reading.unsupported == [] and reading.duplicate_ids == []
    assert reading.features_skipped == real_shapes.FEATURES


def test_unsupported_question_types_are_reported_by_name(real_shapes: Any) -> None:
    template = real_shapes.template()
    template["items"].append(
        {
            "reference": "item-unsupported",
            "questions": [
                real_shapes.item_question("hotspot-1", {"type": "hotspot", "areas": []}),
                real_shapes.api_question("icz-1", {"type": "imageclozeassociation"}),
                {"reference": "no-type-given", "widget_type": "response"},  # a reference to a widget, no type
            ],
            "features": [],
        }
    )
    template["settings"] = {"reference": "x", "type": "not-a-question"}  # no widget, not in `questions`
    reading = read_template(template)
    assert reading.unsupported == [("hotspot-1", "hotspot"), ("icz-1", "imageclozeassociation")]
    assert list(reading.questions) == list(real_shapes.QUESTIONS)


def test_a_repeated_id_is_reported_once_and_its_first_question_counts(real_shapes: Any) -> None:
    template = real_shapes.template()
    again = real_shapes.api_question("mcq-single", {"type": "mcq", "options": [{"value": "x"}]})
    template["items"].append({"reference": "item-again", "questions": [again, again]})
    reading = read_template(template)
    assert reading.duplicate_ids == ["mcq-single"]
    assert reading.questions["mcq-single"].allowed_values == frozenset("0123")


def test_features_are_skipped_with_their_contents() -> None:
    question = {"id": "hidden", "type": "mcq", "options": []}
    template = {
        "items": [
            {
                "reference": "i1",
                "features": [{"reference": "f1", "data": {"type": "sharedpassage", "q": question}}],
            },
            {
                "reference": "i2",
                "questions": [{"widget_type": "feature", "reference": "f2", "extra": question}],
            },
        ]
    }
    reading = read_template(template)
    assert reading.questions == {} and reading.unsupported == [] and reading.features_skipped == 2


@pytest.mark.parametrize(
    ("obj", "qid"),
    [
        ({"id": "a", "response_id": "b", "reference": "c", "type": "shorttext"}, "a"),
        ({"response_id": "b", "reference": "c", "type": "shorttext"}, "b"),
        ({"id": "", "reference": "c", "type": "shorttext"}, "c"),
        ({"reference": "c", "data": {"type": "shorttext", "id": "not-this"}}, "c"),
    ],
)
def test_the_id_is_id_else_response_id_else_reference(obj: dict[str, Any], qid: str) -> None:
    assert list(find_questions({"questions": [obj]})) == [qid]


@pytest.mark.parametrize(
    ("fields", "boxes"),
    [
        ({"template": "{{response}} and {{response}}"}, 2),
        ({"template": "{{response}} and {{response}}", "response_count": 5}, 2),  # markers win
        ({"template": "no markers", "response_count": 3}, 3),
        ({"response_count": 1}, 1),
        ({"response_count": True}, None),
        ({"template": "no markers"}, None),
    ],
)
def test_cloze_boxes_are_the_markers_else_response_count(fields: dict[str, Any], boxes: int | None) -> None:
    for qtype in ("clozetext", "clozeinlinetext", "clozeformula"):
        (question,) = find_questions({"questions": [{"id": "q", "type": qtype, **fields}]}).values()
        assert question.slot_count == boxes, qtype


def test_find_questions_is_the_readings_questions(real_shapes: Any) -> None:
    template = real_shapes.template()
    assert find_questions(template) == read_template(template).questions
