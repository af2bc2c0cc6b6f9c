"""`sessions/templates`: the seeded demo activities, mock exams and items, all 13 question types."""

from __future__ import annotations

import pytest

from learnosity_core.content.question_types import SUPPORTED_TYPES
from learnosity_core.content.questions import find_questions
from learnosity_devtools.emulator.seed import demo_items, demo_templates, exam_templates, served_templates


def test_the_seed_covers_every_question_type_in_several_activities() -> None:
    templates = demo_templates()
    assert len(templates) >= 3
    types = {q.type for t in templates.values() for q in find_questions(t).values()}
    assert types == SUPPORTED_TYPES
    for activity_id, template in templates.items():
        assert template["activity_template_id"] == activity_id
        assert len(find_questions(template)) >= 3


def test_the_mock_exams_are_papers_of_ten_questions_covering_every_type() -> None:
    exams = exam_templates()
    assert {activity_id: len(find_questions(t)) for activity_id, t in exams.items()} == {
        "mock-exam-paper-1": 10,
        "mock-exam-paper-2": 10,
    }
    assert {q.type for t in exams.values() for q in find_questions(t).values()} == SUPPORTED_TYPES
    assert not set(exams) & set(demo_templates())


def test_seeded_questions_carry_the_constraints_template_py_reads() -> None:
    questions = [q for t in demo_templates().values() for q in find_questions(t).values()]
    for q in questions:
        if q.type in {"mcq", "association", "clozeinlinetext"}:
            assert q.allowed_values, q
        if q.type in {"association", "clozetext", "clozeinlinetext", "clozeformula", "choicematrix"}:
            assert q.slot_count, q
        if q.type == "choicematrix":
            assert q.option_count, q
        if q.type == "orderlist":
            assert q.list_length, q


def test_demo_templates_are_fresh_copies() -> None:
    first = demo_templates()
    first["demo-biology-cells-u3"]["items"].clear()
    assert demo_templates()["demo-biology-cells-u3"]["items"]


@pytest.mark.parametrize("activity_id", sorted(served_templates()))
def test_template_by_activity(api, activity_id: str) -> None:
    body = api.ok("sessions/templates", {"activity_template_id": activity_id})
    assert body["data"] == served_templates()[activity_id]


def test_template_by_items(api) -> None:
    references = ["geo-capitals-02", "bio-cells-01"]
    data = api.ok("sessions/templates", {"items": references})["data"]
    assert [item["reference"] for item in data["items"]] == references
    assert data["items"][1] == demo_items()["bio-cells-01"]


def test_unknown_activity(api) -> None:
    response = api.post("sessions/templates", {"activity_template_id": "no-such-activity"})
    assert response.status_code == 400
    meta = response.json()["meta"]
    assert meta["code"] == 20013
    assert "no-such-activity" in meta["message"]


def test_unknown_item(api) -> None:
    response = api.post("sessions/templates", {"items": ["bio-cells-01", "missing-item"]})
    assert response.status_code == 400
    assert response.json()["meta"]["code"] == 20013
    assert "missing-item" in response.json()["meta"]["message"]


@pytest.mark.parametrize(
    ("request_body", "code"),
    [
        ({}, 20000),
        ({"activity_template_id": 5}, 20009),
        ({"activity_template_id": "demo-biology-cells-u3", "items": ["bio-cells-01"]}, 20009),
        ({"items": []}, 20009),
        ({"activity_template_id": "demo-biology-cells-u3", "user_id": "u1"}, 20009),
    ],
)
def test_bad_template_requests(api, request_body: dict, code: int) -> None:
    response = api.post("sessions/templates", request_body)
    assert response.status_code == 400
    assert response.json()["meta"]["code"] == code
