"""The demo activities the emulator serves from `sessions/templates`, covering all 13 question types.

Other code imports these too (the demo's sample-data generator needs the activity ids and the
question objects), so they live here as plain data. Items are written the way Learnosity writes
item JSON: `{"reference", "questions": [{"reference", "widget_type": "response", "type", "data":
{...}}], "features": [...]}`, cloze response boxes as `{{response}}` markers in `template`. One
activity keeps the flat Questions API form (`{"id", "response_id", "type", ...}` with
`response_count`) so both forms stay exercised. Question ids are 32-hex like the response ids
Learnosity generates, derived from a readable name so they never change between runs.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any, Final

_NAMESPACE: Final = uuid.UUID("8a0f6f3e-4d0c-4b8e-9f46-6c1f3c2a7d11")
CONFIG: Final = {"scoring_type": "per-question", "subscores": []}


def question_id(name: str) -> str:
    return uuid.uuid5(_NAMESPACE, name).hex


def _q(name: str, qtype: str, stimulus: str, valid: Any, **fields: Any) -> dict[str, Any]:
    qid = question_id(name)
    return {
        "id": qid,
        "response_id": qid,
        "type": qtype,
        "stimulus": stimulus,
        **fields,
        "validation": {"scoring_type": "exactMatch", "valid_response": {"score": 1, "value": valid}},
    }


def _item_form(question: dict[str, Any]) -> dict[str, Any]:
    """A flat question object as item JSON: its settings under `data`, boxes as markers only."""
    data = {k: v for k, v in question.items() if k not in {"id", "response_id", "response_count"}}
    return {"reference": question["id"], "widget_type": "response", "type": question["type"], "data": data}


def _options(*labels: str) -> list[dict[str, str]]:
    return [{"value": str(i), "label": label} for i, label in enumerate(labels)]


_ITEMS: Final[dict[str, list[dict[str, Any]]]] = {
    # Biology: cells
    "bio-cells-01": [
        _q(
            "bio-cells-organelle",
            "mcq",
            "<p>Which organelle releases energy from glucose?</p>",
            ["2"],
            options=_options("Nucleus", "Ribosome", "Mitochondrion", "Cell wall"),
        )
    ],
    "bio-cells-02": [
        _q(
            "bio-cells-process",
            "shorttext",
            "<p>Name the process plants use to make glucose.</p>",
            "photosynthesis",
        )
    ],
    "bio-cells-03": [
        _q(
            "bio-cells-true-false",
            "choicematrix",
            "<p>True or false?</p>",
            [[0], [1], [0]],
            multiple_responses=False,
            stems=[
                "Animal cells have a cell membrane",
                "Bacteria have a nucleus",
                "Plant cells have a cell wall",
            ],
            options=["True", "False"],
        ),
        _q(
            "bio-cells-mitosis-order",
            "orderlist",
            "<p>Put the stages of mitosis in order.</p>",
            [0, 1, 2, 3],
            list=["Prophase", "Metaphase", "Anaphase", "Telophase"],
        ),
    ],
    "bio-cells-04": [
        _q(
            "bio-cells-essay",
            "longtextV2",
            "<p>Explain how the cell membrane controls what enters and leaves the cell.</p>",
            None,
            max_length=500,
        )
    ],
    # Algebra: linear equations
    "alg-linear-01": [
        _q(
            "alg-linear-grid",
            "gridded",
            "<p>Solve 4x − 3 = 47 and grid in x.</p>",
            "12.5",
            columns=5,
            range="0-9",
            floating_decimal=True,
        )
    ],
    "alg-linear-02": [
        _q("alg-linear-slope", "formulaV2", "<p>Write the gradient of y = 3x/4 + 2.</p>", "\\frac{3}{4}")
    ],
    "alg-linear-03": [
        _q(
            "alg-linear-expand",
            "clozeformula",
            "<p>Expand both brackets.</p>",
            [["6x+3"], ["2x-8"]],
            template="<p>3(2x + 1) = {{response}}</p><p>2(x − 4) = {{response}}</p>",
            response_count=2,
        ),
        _q(
            "alg-linear-solutions",
            "mcq",
            "<p>Select every equation whose solution is x = 2.</p>",
            ["0", "2"],
            options=_options("3x = 6", "x + 5 = 8", "10 − 4x = 2", "x / 2 = 4"),
            multiple_responses=True,
        ),
    ],
    # Geography: capitals
    "geo-capitals-01": [
        _q(
            "geo-capitals-match",
            "association",
            "<p>Match each country to its capital.</p>",
            ["Canberra", "Ottawa", "Brasília"],
            stimulus_list=["Australia", "Canada", "Brazil"],
            possible_responses=["Canberra", "Ottawa", "Brasília", "Sydney", "Toronto"],
        ),
        _q(
            "geo-capitals-inline",
            "clozeinlinetext",
            "<p>Complete the sentence.</p>",
            ["Berlin", "Spree"],
            template="<p>The capital of Germany is {{response}}, on the river {{response}}.</p>",
            response_count=2,
            possible_responses=["Berlin", "Bonn", "Spree", "Rhine"],
        ),
    ],
    "geo-capitals-02": [
        _q(
            "geo-capitals-rivers",
            "clozetext",
            "<p>Name the rivers.</p>",
            ["Seine", "Thames"],
            template="<p>Paris lies on the {{response}} and London on the {{response}}.</p>",
            response_count=2,
        ),
        _q("geo-capitals-japan", "shorttext", "<p>What is the capital of Japan?</p>", "Tokyo"),
    ],
    # English: reading response
    "eng-reading-01": [
        _q(
            "eng-reading-summary",
            "plaintext",
            "<p>Summarise the passage in two or three sentences.</p>",
            None,
            max_length=150,
        ),
        _q(
            "eng-reading-tone",
            "mcq",
            "<p>Which word best describes the narrator's tone?</p>",
            ["1"],
            options=_options("Cheerful", "Wistful", "Angry", "Indifferent"),
        ),
    ],
    "eng-reading-02": [
        _q(
            "eng-reading-letter",
            "longtext",
            "<p>Write a letter to the author about the ending.</p>",
            None,
            max_length=400,
        ),
        _q(
            "eng-reading-vocab",
            "clozetext",
            "<p>Give a synonym for each word.</p>",
            ["happy"],
            template="<p>joyful: {{response}}</p>",
            response_count=1,
        ),
    ],
}

# Passages and media: features, not questions (a template reader must skip them).
_FEATURES: Final[dict[str, list[dict[str, Any]]]] = {
    "bio-cells-04": [
        {
            "reference": "bio-cells-passage",
            "widget_type": "feature",
            "type": "sharedpassage",
            "data": {"type": "sharedpassage", "heading": "The cell membrane", "content": "<p>...</p>"},
        }
    ],
    "geo-capitals-01": [
        {
            "reference": "geo-capitals-map",
            "widget_type": "feature",
            "type": "videoplayer",
            "data": {"type": "videoplayer", "src": "https://example.invalid/map.mp4"},
        }
    ],
}
# The activity whose items keep the flat Questions API form of the original seed.
_FLAT_ITEMS: Final = frozenset({"eng-reading-01", "eng-reading-02"})

_ACTIVITIES: Final[dict[str, tuple[str, list[str]]]] = {
    "demo-biology-cells-u3": (
        "Biology: Cells (Unit 3)",
        ["bio-cells-01", "bio-cells-02", "bio-cells-03", "bio-cells-04"],
    ),
    "demo-algebra-linear-p1": (
        "Algebra: Linear equations (Paper 1)",
        ["alg-linear-01", "alg-linear-02", "alg-linear-03"],
    ),
    "demo-geography-capitals-q2": ("Geography: Capitals quiz", ["geo-capitals-01", "geo-capitals-02"]),
    "demo-english-reading-y9": ("English: Reading response (Year 9)", ["eng-reading-01", "eng-reading-02"]),
}
# Two mock exams of 10 questions each from the same item bank, all 13 types between them: the
# nightly benchmark's papers (a session of 10 responses). Kept apart from the demo activities,
# which the sample data and the tests are built from.
_EXAMS: Final[dict[str, tuple[str, list[str]]]] = {
    "mock-exam-paper-1": (
        "Mock exam: Paper 1",
        [
            *("bio-cells-01", "bio-cells-03", "bio-cells-04"),
            *("alg-linear-01", "alg-linear-02", "alg-linear-03", "geo-capitals-01"),
        ],
    ),
    "mock-exam-paper-2": (
        "Mock exam: Paper 2",
        [
            *("bio-cells-01", "bio-cells-02", "geo-capitals-01", "geo-capitals-02"),
            *("eng-reading-01", "eng-reading-02"),
        ],
    ),
}


def demo_questions() -> dict[str, dict[str, Any]]:
    """Every seeded question in the flat form, by question id (what a test builds variants from)."""
    return {q["id"]: copy.deepcopy(q) for questions in _ITEMS.values() for q in questions}


def demo_items() -> dict[str, dict[str, Any]]:
    """Every seeded item by reference, in item JSON (or, for `_FLAT_ITEMS`, the flat form)."""
    items = {}
    for ref, questions in _ITEMS.items():
        flat = ref in _FLAT_ITEMS
        item: dict[str, Any] = {
            "reference": ref,
            "questions": [copy.deepcopy(q) if flat else _item_form(copy.deepcopy(q)) for q in questions],
        }
        if ref in _FEATURES:
            item["features"] = copy.deepcopy(_FEATURES[ref])
        items[ref] = item
    return items


def items_template(references: list[str]) -> dict[str, Any]:
    """A template made of seeded items (unknown references raise KeyError)."""
    items = demo_items()
    return {"items": [items[ref] for ref in references], "config": copy.deepcopy(CONFIG)}


def demo_templates() -> dict[str, dict[str, Any]]:
    """Every demo activity's template by activity id (fresh copies; callers may change them)."""
    return _templates(_ACTIVITIES)


def exam_templates() -> dict[str, dict[str, Any]]:
    """The mock exams' templates by activity id (10 questions each, all 13 types between them)."""
    return _templates(_EXAMS)


def served_templates() -> dict[str, dict[str, Any]]:
    """Every activity the emulator serves a template for: the demo activities and the mock exams."""
    return {**demo_templates(), **exam_templates()}


def _templates(activities: dict[str, tuple[str, list[str]]]) -> dict[str, dict[str, Any]]:
    templates = {}
    for activity_id, (title, references) in activities.items():
        template = items_template(references)
        template["config"]["title"] = title
        templates[activity_id] = {"activity_template_id": activity_id, **template}
    return templates
