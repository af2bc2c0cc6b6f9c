"""Session templates in the shapes Learnosity publishes, covering all 13 supported question types.

Modelled on Learnosity's own fixtures (repository Learnosity/learnosity-qti,
tests/Fixtures/learnosityjsons, and its questions.json schema):
- item JSON: `{"type", "widget_type": "response", "reference", "data": {"type", ...}}`; the outer
  `type` is sometimes left out, and items also hold `features` (passages, video) that are not
  questions, sometimes inside the `questions` list itself;
- Questions API JSON: `{"response_id", "type", ...}` with every field at the top level;
- gridded settings under `options` (as the schema keeps them) or at the top level.

A plain module, not a conftest: the conftests of the tests that use it load it by path, because
pytest's importlib mode puts no test folder on sys.path.
"""

from __future__ import annotations

import copy
from typing import Any

ACTIVITY = "real-shapes-paper-1"


def item_question(reference: str, data: dict[str, Any], outer_type: bool = True) -> dict[str, Any]:
    """A question as item JSON holds it."""
    outer = {"type": data["type"]} if outer_type else {}
    return {**outer, "widget_type": "response", "reference": reference, "data": data}


def api_question(response_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """A question as Questions API takes it."""
    return {"response_id": response_id, **data}


def _options(*labels: str) -> list[dict[str, str]]:
    return [{"label": label, "value": str(i)} for i, label in enumerate(labels)]


def _validation(value: Any) -> dict[str, Any]:
    return {"scoring_type": "exactMatch", "valid_response": {"score": 1, "value": value}}


# Question id -> (form, the question's fields). Ids name what each question is there to test.
QUESTIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "mcq-single": (
        "item",
        {
            "type": "mcq",
            "stimulus": "<p>Pick the odd one out</p>",
            "options": _options("Tomato", "Orange", "Celery", "Pear"),
            "validation": _validation(["2"]),
            "ui_style": {"type": "horizontal", "columns": 4},
        },
    ),
    "mcq-multiple": (
        "api",
        {
            "type": "mcq",
            "stimulus": "<p>Which are prime?</p>",
            "multiple_responses": True,
            "options": [
                {"label": "2", "value": "two"},
                {"label": "4", "value": "four"},
                {"label": "5", "value": "five"},
            ],
            "validation": _validation(["two", "five"]),
        },
    ),
    "mcq-no-values": (
        "item-bare",  # item JSON without the outer `type`
        {
            "type": "mcq",
            "stimulus": "<p>Options stored as their index</p>",
            "options": [{"label": "A"}, {"label": "B"}],
        },
    ),
    "matrix-single": (
        "item",
        {
            "type": "choicematrix",
            "stimulus": "<p>True or false?</p>",
            "stems": ["Cells have a membrane", "Bacteria have a nucleus", "Plants have cell walls"],
            "options": ["True", "False"],
            "validation": _validation([[0], [1], [0]]),
        },
    ),
    "matrix-multiple": (
        "api",
        {
            "type": "choicematrix",
            "multiple_responses": True,
            "stems": ["Mammals", "Birds"],
            "options": ["Lay eggs", "Fly", "Swim"],
            "validation": _validation([[0, 2], [0, 1]]),
        },
    ),
    "association-groups": (
        "item",
        {
            "type": "association",
            "stimulus_list": ["France", "Japan", "Peru"],
            "group_possible_responses": True,
            "possible_response_groups": [
                {"title": "Europe", "responses": ["Paris", "Madrid"]},
                {"title": "Elsewhere", "responses": ["Tokyo", "Lima"]},
            ],
            "validation": _validation(["Paris", "Tokyo", "Lima"]),
        },
    ),
    "association-flat": (
        "api",
        {
            "type": "association",
            "stimulus_list": ["[Stem 1]", "[Stem 2]"],
            "possible_responses": ["[Choice A]", "[Choice B]", "[Choice C]"],
            "validation": _validation([None, None]),
        },
    ),
    "orderlist": (
        "item",
        {
            "type": "orderlist",
            "list": ["Prophase", "Metaphase", "Anaphase", "Telophase"],
            "validation": _validation([0, 1, 2, 3]),
        },
    ),
    "cloze-one": (
        "item",
        {
            "type": "clozetext",
            "template": "<p>joyful: {{response}}</p>",
            "max_length": 15,
            "validation": _validation(["happy"]),
        },
    ),
    "inline-two": (
        "api",
        {
            "type": "clozeinlinetext",
            "template": "<p>The capital of Germany is {{response}}, on the river {{response}}.</p>",
            "validation": _validation(["Berlin", "Spree"]),
        },
    ),
    "formula-three": (
        "item",
        {
            "type": "clozeformula",
            "template": "<p>{{response}} + {{response}} = {{response}}</p>",
            "response_containers": [{}, {}, {}],
            "validation": _validation([["1"], ["2"], ["3"]]),
        },
    ),
    "grid-fraction": (
        "item",
        {
            "type": "gridded",
            "options": {
                "columns": 4,
                "range": "0-9",
                "fraction_slash": True,
                "plus_minus_column": False,
                "fixed_decimal": False,
                "floating_decimal": False,
            },
            "validation": _validation("3/4"),
        },
    ),
    "grid-signed": (
        "api",
        {
            "type": "gridded",
            "columns": 5,
            "range": "0-5",
            "plus_minus_column": True,
            "floating_decimal": True,
            "validation": _validation("-12.5"),
        },
    ),
    "short": ("item", {"type": "shorttext", "max_length": 10, "validation": _validation("Tokyo")}),
    "plain": ("api", {"type": "plaintext", "max_length": 5, "submit_over_limit": True}),
    "essay": ("item", {"type": "longtextV2", "max_length": 8, "show_word_limit": "always"}),
    "letter": ("item-bare", {"type": "longtext"}),
    "formula": (
        "api",
        {"type": "formulaV2", "template": "{{response}}", "validation": _validation("\\frac{3}{4}")},
    ),
}

PASSAGE = {
    "type": "sharedpassage",
    "widget_type": "feature",
    "reference": "passage-1",
    "data": {"type": "sharedpassage", "content": "<p>Read the passage.</p>"},
}
VIDEO = {
    "widget_type": "feature",
    "reference": "video-1",
    "data": {"type": "videoplayer", "src": "//example.com/v.mp4"},
}
# A feature listed under `features` without `widget_type`.
CALCULATOR = {"reference": "calc-1", "data": {"type": "calculator", "mode": "basic"}}
FEATURES = 3  # PASSAGE, VIDEO and CALCULATOR


def _question(qid: str) -> dict[str, Any]:
    form, data = QUESTIONS[qid]
    if form == "api":
        return api_question(qid, copy.deepcopy(data))
    return item_question(qid, copy.deepcopy(data), outer_type=form == "item")


def template() -> dict[str, Any]:
    """The activity's template: items of two or three questions, passages and a video among them."""
    ids = list(QUESTIONS)
    items = [
        {
            "reference": f"item-{n + 1}",
            "content": "".join(
                f'<span class="learnosity-response question-{q}"></span>' for q in ids[n : n + 3]
            ),
            "questions": [_question(q) for q in ids[n : n + 3]],
            "features": [],
            "metadata": {"scoring_type": "per-question"},
        }
        for n in range(0, len(ids), 3)
    ]
    items[0]["questions"].insert(0, PASSAGE)  # a feature inside `questions`, as a shared passage is kept
    items[1]["features"] = [VIDEO, CALCULATOR]
    return {"activity_template_id": ACTIVITY, "items": items, "config": {"title": "Paper 1"}}
