"""Read-back comparison catches every kind of difference."""

from __future__ import annotations

from learnosity_core.verify import compare_session, compare_sessions

SENT = {
    "session_id": "s1",
    "responses": [
        {"question_id": "q1", "type": "string", "value": "makka+pakka", "characterCount": 11},
        {"question_id": "q2", "type": "array", "value": ["0", "1"]},
    ],
}


def _stored(**changes: object) -> dict:
    responses = [
        {"response_id": "q1", "response": {"type": "string", "value": "makka+pakka", "characterCount": 11}},
        {"response_id": "q2", "response": {"type": "array", "value": ["0", "1"], "revision": 1}},
    ]
    for qid_field, value in changes.items():
        qid, field = qid_field.split("__")
        next(r for r in responses if r["response_id"] == qid)["response"][field] = value
    return {"session_id": "s1", "responses": responses}


def test_identical_read_back_verifies() -> None:
    assert compare_session(SENT, _stored()) is None


def test_each_difference_is_named() -> None:
    assert compare_session(SENT, None) == "not found on read-back"
    assert (
        compare_session(SENT, _stored(q1__value="makka pakka")) == "question q1: value differs on read-back"
    )
    assert (
        compare_session(SENT, _stored(q1__characterCount=10))
        == "question q1: characterCount differs on read-back"
    )
    assert compare_session(SENT, _stored(q2__type="string")) == "question q2: type differs on read-back"
    assert compare_session(SENT, {"session_id": "s1", "responses": []}) == "question q1 missing on read-back"


def test_every_sent_session_gets_a_result() -> None:
    results = compare_sessions({"s1": SENT, "s2": {**SENT, "session_id": "s2"}}, [_stored()])
    assert results == {"s1": None, "s2": "not found on read-back"}
