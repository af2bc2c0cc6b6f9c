"""Which template each activity uses, fetched once; an unusable one holds back its activity."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from learnosity_core.dataapi.errors import DataApiValidationError
from learnosity_core.delivery.warehouse import SourceError
from learnosity_core.template_submission.templates import (
    MAX_TEMPLATE_BYTES,
    TemplateMapError,
    TemplateRef,
    choose_refs,
    fetch_templates,
    parse_template_map,
    read_template_map_table,
    unusable,
)

MCQ = {"reference": "q1", "widget_type": "response", "type": "mcq", "data": {"type": "mcq", "options": []}}
GOOD = {"items": [{"reference": "i1", "questions": [MCQ]}]}


def test_the_map_takes_references_item_lists_and_objects() -> None:
    mapping = parse_template_map(
        json.dumps(
            {
                "district-a": "paper-test-1",
                "district-b": ["item-1", "item-2"],
                "district-c": {"activity_template_id": "paper-test-2"},
                "district-d": {"items": ["item-3"]},
            }
        )
    )
    assert mapping == {
        "district-a": TemplateRef(activity_template_id="paper-test-1"),
        "district-b": TemplateRef(items=("item-1", "item-2")),
        "district-c": TemplateRef(activity_template_id="paper-test-2"),
        "district-d": TemplateRef(items=("item-3",)),
    }
    assert parse_template_map("") == {} and parse_template_map("  ") == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "learnosity_template_map is not JSON"),
        ('["a"]', "must be a JSON object"),
        ('{"a": 3}', "learnosity_template_map['a']"),
        ('{"a": {"activity_template_id": "x", "items": ["i"]}}', "exactly one"),
        ('{"a": ""}', "must not be empty"),
        ('{"a": []}', "must not be empty"),
    ],
)
def test_a_bad_map_names_the_setting_and_the_entry(text: str, message: str) -> None:
    with pytest.raises(TemplateMapError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_template_map(text)


def test_the_map_table_is_read_from_the_warehouse(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'w.db'}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE tmap (activity_id TEXT, activity_template_id TEXT, items TEXT)"))
        conn.execute(
            sa.text("INSERT INTO tmap VALUES ('a1', 'paper-1', NULL), ('a2', NULL, '[\"i1\", \"i2\"]')")
        )
    assert read_template_map_table(engine, "tmap") == {
        "a1": TemplateRef(activity_template_id="paper-1"),
        "a2": TemplateRef(items=("i1", "i2")),
    }
    with pytest.raises(SourceError, match="learnosity_template_map_table"):
        read_template_map_table(engine, "tmap; DROP TABLE tmap")
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO tmap VALUES ('a3', NULL, 'not json')"))
    with pytest.raises(TemplateMapError, match="activity 'a3': items is not a JSON array"):
        read_template_map_table(engine, "tmap")


def test_the_column_wins_over_the_map_which_wins_over_the_activity_id() -> None:
    refs, held_back = choose_refs(
        ["a", "b", "c", "d"],
        {"a": {"from-column"}, "d": {"t1", "t2"}},
        {"a": TemplateRef(activity_template_id="from-map"), "b": TemplateRef(items=("i1",))},
    )
    assert refs == {
        "a": TemplateRef(activity_template_id="from-column"),
        "b": TemplateRef(items=("i1",)),
        "c": TemplateRef(activity_template_id="c"),
    }
    assert held_back.keys() == {"d"} and "2 templates in activity_template_id (t1, t2)" in held_back["d"]


def test_each_template_is_fetched_once_and_shared_by_its_activities() -> None:
    calls: list[TemplateRef] = []

    def fetch(ref: TemplateRef) -> dict[str, Any]:
        calls.append(ref)
        return GOOD

    shared = TemplateRef(activity_template_id="paper-1")
    found = fetch_templates({"a": shared, "b": shared, "c": TemplateRef(items=("i1",))}, fetch)
    assert calls == [shared, TemplateRef(items=("i1",))]
    assert found.templates == {"a": GOOD, "b": GOOD, "c": GOOD} and found.held_back == {}


def test_unusable_templates_hold_back_their_activities_with_one_reason_each() -> None:
    unsupported = {
        "items": [{"questions": [MCQ, {"reference": "h1", "widget_type": "response", "type": "hotspot"}]}]
    }
    other_q1 = {
        "reference": "q1",
        "widget_type": "response",
        "type": "shorttext",
        "data": {"type": "shorttext"},
    }
    duplicates = {"items": [{"questions": [MCQ]}, {"questions": [other_q1]}]}
    repeated = {"items": [{"questions": [MCQ]}, {"questions": [MCQ]}]}  # the same question met twice
    answers: dict[str, Any] = {
        "missing": DataApiValidationError("HTTP 400, code 20013: not found"),
        "empty": {"items": [{"features": [{"widget_type": "feature", "type": "sharedpassage"}]}]},
        "hotspot": unsupported,
        "dupes": duplicates,
        "repeated": repeated,
        "good": GOOD,
    }

    def fetch(ref: TemplateRef) -> dict[str, Any]:
        answer = answers[ref.activity_template_id or ""]
        if isinstance(answer, Exception):
            raise answer
        return dict(answer)

    found = fetch_templates({name: TemplateRef(activity_template_id=name) for name in answers}, fetch)
    assert found.templates == {"good": GOOD, "repeated": repeated}
    held = found.held_back
    assert "Learnosity has no template for activity_template_id missing" in held["missing"]
    assert "fix the template map" in held["missing"]
    assert "no question found" in held["empty"]
    assert "question types we do not support: h1 (hotspot)" in held["hotspot"]
    assert "duplicate question ids: q1" in held["dupes"]


def test_answers_that_are_not_templates_are_unusable() -> None:
    assert unusable(["not", "an", "object"]) == (
        "the template answer is not a JSON object (got list); check the reference"
    )
    huge = {"items": [{"questions": [MCQ]}], "padding": "x" * (MAX_TEMPLATE_BYTES + 1)}
    problem = unusable(huge)
    assert problem is not None and "over the 5,242,880-byte limit" in problem
    assert unusable(GOOD) is None


def test_service_errors_are_not_held_back_but_raised() -> None:
    from learnosity_core.dataapi.errors import AuthenticationError

    def fetch(ref: TemplateRef) -> dict[str, Any]:
        raise AuthenticationError("HTTP 403, code 41003: signatures do not match", code=41003)

    with pytest.raises(AuthenticationError):
        fetch_templates({"a": TemplateRef(activity_template_id="a")}, fetch)
