"""Templates and row builders for the transform tests.

`EXAMPLE` is the seed page's activity: its question ids are the ones in the documented
request example, plus one question of every other supported type, in template order.
`REAL` is `real_shapes.ACTIVITY`: the same 13 types in the shapes Learnosity publishes.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd
import pytest

from learnosity_core.template_submission.transform import TemplateIndex

EXAMPLE = "example-paper-based-activity"
SECOND = "second-activity"
LEARNER = "1f4b4e68-5986-4468-90da-50f9901cc7ae"
SESSION = "cb6ffc66-8fdb-4beb-a712-cffc31725e57"

MCQ = "91c92c18e3725773844d8acaf12303ae"
SHORTTEXT = "3f45ee6e3d2e4ca2b3a84df3c53c45a6"
LONGTEXTV2 = "811c7d8cd2f870eaa7ba922ba622e9"
GRIDDED = "7578fd3697ac4648babc0b0d37b69e69"
CHOICEMATRIX = "AC745C70FEC74331AA8A829D066BD06E"
ORDERLIST = "q-orderlist"
ASSOCIATION = "q-association"
CLOZETEXT = "q-clozetext"
CLOZEINLINETEXT = "q-clozeinlinetext"
CLOZEFORMULA = "q-clozeformula"
FORMULAV2 = "q-formulav2"
LONGTEXT = "q-longtext"
PLAINTEXT = "q-plaintext"

QUESTIONS: list[dict[str, Any]] = [
    {
        "id": MCQ,
        "type": "mcq",
        "options": [{"value": str(i), "label": f"Option {i}"} for i in range(4)],
        "multiple_responses": True,  # the seed page's "multi-select MCQ"
    },
    {"id": SHORTTEXT, "type": "shorttext"},
    {"id": LONGTEXTV2, "type": "longtextV2"},
    {"id": GRIDDED, "type": "gridded"},
    {
        "id": CHOICEMATRIX,
        "type": "choicematrix",
        "stems": ["a", "b", "c", "d"],
        "options": ["yes", "no"],
        "multiple_responses": True,  # the seed page's example marks two options in a stem
    },
    {"id": ORDERLIST, "type": "orderlist", "list": ["a", "b", "c", "d"]},
    {
        "id": ASSOCIATION,
        "type": "association",
        "stimulus_list": ["France", "Japan"],
        "possible_responses": ["Paris", "Tokyo", "Lima"],
    },
    {"id": CLOZETEXT, "type": "clozetext", "response_count": 2},
    {
        "id": CLOZEINLINETEXT,
        "type": "clozeinlinetext",
        "response_count": 2,
        "possible_responses": ["cell", "nucleus", "wall"],
    },
    {"id": CLOZEFORMULA, "type": "clozeformula", "response_count": 2},
    {"id": FORMULAV2, "type": "formulaV2"},
    {"id": LONGTEXT, "type": "longtext"},
    {"id": PLAINTEXT, "type": "plaintext"},
]
SECOND_QUESTIONS: list[dict[str, Any]] = [
    {"id": "s-mcq", "type": "mcq", "options": [{"value": "a", "label": "A"}, {"value": "b", "label": "B"}]},
    {"id": "s-short", "type": "shorttext"},
]


def template(activity_id: str, questions: list[dict[str, Any]]) -> dict[str, Any]:
    """A template as `template.py` documents it: items holding question objects."""
    return {
        "activity_template_id": activity_id,
        "items": [{"reference": f"item-{n}", "questions": [q]} for n, q in enumerate(questions)],
        "config": {"scoring_type": "per-question"},
    }


def _load_real_shapes() -> ModuleType:
    """tests/include/content/real_shapes.py by path (importlib mode puts no test folder on sys.path)."""
    path = Path(__file__).parents[2] / "content" / "real_shapes.py"
    spec = importlib.util.spec_from_file_location("real_shapes", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REAL_SHAPES = _load_real_shapes()
REAL = REAL_SHAPES.ACTIVITY
TEMPLATES = {
    EXAMPLE: template(EXAMPLE, QUESTIONS),
    SECOND: template(SECOND, SECOND_QUESTIONS),
    REAL: REAL_SHAPES.template(),
}


@pytest.fixture(scope="session")
def templates() -> dict[str, dict[str, Any]]:
    return TEMPLATES


@pytest.fixture(scope="session")
def real_shapes() -> ModuleType:
    return REAL_SHAPES


@pytest.fixture(scope="session")
def index() -> TemplateIndex:
    return TemplateIndex(TEMPLATES)


RowFactory = Callable[..., pd.DataFrame]


@dataclass(frozen=True)
class Example:
    """Names the tests use: the example activity, learner and session, and its question id per type."""

    activity: str = EXAMPLE
    second: str = SECOND
    learner: str = LEARNER
    session: str = SESSION
    qid: dict[str, str] = field(default_factory=lambda: {q["type"]: q["id"] for q in QUESTIONS})


@pytest.fixture(scope="session")
def example() -> Example:
    return Example()


@pytest.fixture(scope="session")
def rows() -> RowFactory:
    """`rows(dict, ...)`: a frame of source rows; unspecified fields take the example learner's values."""

    def build(*specs: dict[str, Any], **defaults: Any) -> pd.DataFrame:
        base = {"user_id": LEARNER, "activity_id": EXAMPLE, "session_id": None, "response": None}
        return pd.DataFrame([{**base, **defaults, **spec} for spec in specs])

    return build
