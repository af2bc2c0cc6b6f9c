"""Question objects are found wherever they sit in an opaque session template."""

from __future__ import annotations

from learnosity_core.content.questions import find_questions


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
