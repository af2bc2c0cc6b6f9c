"""Finding a blob's session, user and activity wherever the session data plausibly keeps them."""

from __future__ import annotations

from typing import Any

import pytest

from learnosity_core.failed_submission.identity import BlobIdentity, find, find_identity

IDS = {"session_id": "5f0c8a3e-2b7d-4c1a-9e6f-0a1b2c3d4e5f", "user_id": "student-7", "activity_id": "act-1"}


@pytest.mark.parametrize(
    ("doc", "found_at"),
    [
        pytest.param(
            {**IDS, "responses": {}},
            {"session_id": "session_id", "user_id": "user_id", "activity_id": "activity_id"},
            id="top-level",
        ),
        pytest.param(
            {"sessionId": IDS["session_id"], "userId": "student-7", "activityId": "act-1"},
            {"session_id": "sessionId", "user_id": "userId", "activity_id": "activityId"},
            id="camelCase",
        ),
        pytest.param(
            {"session": dict(IDS)},
            {
                "session_id": "session.session_id",
                "user_id": "session.user_id",
                "activity_id": "session.activity_id",
            },
            id="in-session",
        ),
        pytest.param(
            {
                "meta": {"user_id": "student-7", "activity": {"reference": "act-1"}},
                "session": {"id": IDS["session_id"]},
            },
            {"session_id": "session.id", "user_id": "meta.user_id", "activity_id": "meta.activity.reference"},
            id="nested-meta-activity-session",
        ),
        pytest.param(
            {
                "request": {
                    "sessionId": IDS["session_id"],
                    "user": {"id": "student-7"},
                    "activity_id": "act-1",
                }
            },
            {
                "session_id": "request.sessionId",
                "user_id": "request.user.id",
                "activity_id": "request.activity_id",
            },
            id="items-api-request",
        ),
        pytest.param(
            {
                "data": {"session": {"meta": {}}},
                "activity": {"id": "act-1"},
                "user": {"userId": "student-7"},
                "session": {"session_id": IDS["session_id"]},
            },
            {"session_id": "session.session_id", "user_id": "user.userId", "activity_id": "activity.id"},
            id="own-objects",
        ),
    ],
)
def test_identity_in_every_plausible_place(doc: dict[str, Any], found_at: dict[str, str]) -> None:
    identity = find_identity(doc)
    assert (identity.session_id, identity.user_id, identity.activity_id) == tuple(IDS.values())
    assert identity.found_at == found_at and identity.missing() == []


def test_any_session_id_string_is_learnositys_own() -> None:
    for session_id in ("session-42", "12345", "CB6FFC66-8FDB-4BEB-A712-CFFC31725E57", "x" * 64):
        assert find_identity({"session_id": session_id}).session_id == session_id


@pytest.mark.parametrize(
    "session_id",
    [
        pytest.param("", id="empty"),
        pytest.param("  ", id="blank"),
        pytest.param(7, id="number"),
        pytest.param(None, id="null"),
        pytest.param("x" * 65, id="longer-than-the-ledger-holds"),
    ],
)
def test_an_unusable_session_id_is_not_found(session_id: Any) -> None:
    identity = find_identity({"session_id": session_id, "user_id": "u", "activity_id": "a"})
    assert identity.session_id is None and identity.missing() == ["session_id"]
    assert "session_id" not in identity.found_at


def test_an_unusable_value_gives_way_to_the_next_place() -> None:
    doc = {"session_id": "  ", "session": {"id": "s-2"}, "userId": "", "meta": {"user_id": "u-2"}}
    identity = find_identity(doc)
    assert (identity.session_id, identity.user_id) == ("s-2", "u-2")
    assert identity.missing() == ["activity_id"]


def test_the_top_level_wins_over_nested_objects() -> None:
    doc = {"user_id": "top", "meta": {"user_id": "nested"}, "userId": "camel"}
    assert find_identity(doc).user_id == "top"


def test_only_two_levels_down_and_only_under_known_names() -> None:
    too_deep = {"session": {"meta": {"data": {"session_id": "s"}}}}
    assert find_identity(too_deep).session_id is None
    assert find_identity({"session": {"meta": {"session_id": "s"}}}).session_id == "s"
    assert find_identity({"payload": {"session_id": "s"}}).session_id is None
    assert find_identity({"user": {"id": "u"}}).session_id is None, "an id is only its own object's"


def test_nothing_found_in_an_empty_object() -> None:
    assert find_identity({}) == BlobIdentity()
    assert BlobIdentity().missing() == ["session_id", "user_id", "activity_id"]


def test_find_responses_and_save_time_the_same_way() -> None:
    doc = {"session": {"dtSaved": "2026-03-01T09:30:00Z", "responses": {"q1": {}}}}
    assert find(doc, "responses") == ({"q1": {}}, "session.responses")
    assert find(doc, "dt_saved") == ("2026-03-01T09:30:00Z", "session.dtSaved")
    assert find(doc, "responses", lambda v: isinstance(v, list)) is None
