"""`SET /sessions` contents, checked inside the job: bad sessions are listed, good ones upserted."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from learnosity_core.content.questions import TemplateQuestion, find_questions
from learnosity_core.failed_submission.blob import encode_failed_session
from learnosity_devtools.emulator.seed import demo_templates

ALL_QUESTIONS = {
    q.type: (activity, q) for activity, t in demo_templates().items() for q in find_questions(t).values()
}


def _set(response: dict[str, Any], **fields: Any) -> None:
    response.update(fields)


# One way to break each question type, and the reason code `check_response` gives for it.
BREAKS: dict[str, tuple[Callable[[dict[str, Any], TemplateQuestion], None], str]] = {
    "mcq": (lambda r, q: _set(r, value=["not-an-option"]), "invalid_value"),
    "association": (lambda r, q: _set(r, value=r["value"][:1]), "invalid_value"),
    "clozetext": (lambda r, q: _set(r, value=[1, 2]), "invalid_value"),
    "clozeinlinetext": (lambda r, q: _set(r, value=["Munich", "Spree"]), "invalid_value"),
    "clozeformula": (lambda r, q: r.pop("responses"), "missing_responses"),
    "choicematrix": (lambda r, q: _set(r, value=[[9]] * (q.slot_count or 1)), "invalid_value"),
    "orderlist": (lambda r, q: _set(r, value=[0, 0, 1, 2]), "invalid_value"),
    "gridded": (lambda r, q: _set(r, value="12,5"), "invalid_value"),
    "formulaV2": (lambda r, q: _set(r, value="x + 1"), "not_encoded"),
    "shorttext": (lambda r, q: _set(r, characterCount=r["characterCount"] + 1), "count_mismatch"),
    "plaintext": (lambda r, q: _set(r, wordCount=99), "count_mismatch"),
    "longtext": (lambda r, q: r.pop("wordCount"), "count_mismatch"),
    "longtextV2": (lambda r, q: _set(r, type="array"), "wrong_kind"),
}


def test_every_question_type_has_a_break() -> None:
    assert set(BREAKS) == set(ALL_QUESTIONS)


def test_content_errors_per_question_type_are_listed_in_the_job(emulator, api, build) -> None:
    """One request per activity; in each, one session per type breaks that type's rule."""
    expected: dict[str, str] = {}
    for activity in demo_templates():
        entries = []
        for qtype, (q_activity, q) in ALL_QUESTIONS.items():
            if q_activity != activity:
                continue
            entry = build.session(activity, user_id=f"user-{qtype}")
            response = next(r for r in entry["responses"] if r["question_id"] == q.id)
            breaker, code = BREAKS[qtype]
            breaker(response, q)
            expected[entry["session_id"]] = code
            entries.append(entry)
        good = build.session(activity, user_id="user-good")
        data = api.submit(build.from_template(*entries, good, activity_id=activity))
        assert data["sessions_stored"] == [good["session_id"]]
        assert data["sessions_total"] == len(entries) + 1
        for error in data["errors"]:
            assert error["code"] == expected[error["session_id"]], error
            assert error["user_id"].startswith("user-")
            assert error["activity_id"] == activity
        assert [e["index"] for e in data["errors"]] == list(range(len(entries)))
    stored = {s["session_id"] for s in emulator.stored_sessions()}
    assert not stored & set(expected)
    assert len(stored) == len(demo_templates())


def test_unknown_question(api, build) -> None:
    entry = build.session()
    entry["responses"][0]["question_id"] = "not-in-the-template"
    (error,) = api.submit(build.from_template(entry))["errors"]
    assert error["code"] == "unknown_question"
    assert "not-in-the-template" in error["message"]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"session_id": "not-a-uuid"}, "invalid_session_id"),
        ({"session_id": None}, "missing_identity"),
        ({"user_id": ""}, "missing_identity"),
        ({"activity_id": "   "}, "missing_identity"),
        ({"user_id": 42}, "missing_identity"),
        ({"responses": []}, "missing_responses"),
        ({"responses": "mcq=1"}, "missing_responses"),
        ({"responses": ["not an object"]}, "invalid_response"),
    ],
)
def test_session_identity_and_shape(api, build, change: dict[str, Any], code: str) -> None:
    entry = {**build.session(), **change}
    data = api.submit(build.from_template(entry))
    assert data["sessions_stored"] == []
    assert [e["code"] for e in data["errors"]] == [code]


def test_a_question_answered_twice_in_one_session(api, build) -> None:
    entry = build.session()
    entry["responses"].append(dict(entry["responses"][0]))
    (error,) = api.submit(build.from_template(entry))["errors"]
    assert error["code"] == "duplicate_question"


def test_template_response_revision_must_be_positive(api, build) -> None:
    entry = build.session()
    entry["responses"][0]["revision"] = 0
    (error,) = api.submit(build.from_template(entry))["errors"]
    assert error["code"] == "invalid_response"


def test_a_session_id_twice_in_one_request_rejects_both(emulator, api, build) -> None:
    first = build.session()
    second = build.session(session_id=first["session_id"])
    data = api.submit(build.from_template(first, second, build.session()))
    assert len(data["sessions_stored"]) == 1
    assert [(e["index"], e["code"]) for e in data["errors"]] == [
        (0, "duplicate_session"),
        (1, "duplicate_session"),
    ]
    assert first["session_id"] not in {s["session_id"] for s in emulator.stored_sessions()}


def test_resending_a_session_upserts(emulator, api, build) -> None:
    entry = build.session()
    api.submit(build.from_template(entry))
    entry["responses"] = entry["responses"][:1]
    entry["responses"][0]["value"] = ["0"]
    api.submit(build.from_template(entry))
    (stored,) = emulator.stored_sessions()
    assert stored["writes"] == 2
    assert stored["responses"][entry["responses"][0]["question_id"]]["value"] == ["0"]
    assert len(stored["responses"]) == len(build.questions())  # the other responses are kept


def test_a_session_id_owned_by_another_learner_is_a_conflict(emulator, api, build) -> None:
    entry = build.session(user_id="student-a")
    api.submit(build.from_template(entry))
    (error,) = api.submit(build.from_template({**entry, "user_id": "student-b"}))["errors"]
    assert error["code"] == "session_conflict"
    (stored,) = emulator.stored_sessions()
    assert (stored["user_id"], stored["writes"]) == ("student-a", 1)


def test_stored_template_responses_carry_api_version_and_revision(emulator, api, build) -> None:
    entry = build.session()
    api.submit(build.from_template(entry))
    (stored,) = emulator.stored_sessions()
    for sent in entry["responses"]:
        got = stored["responses"][sent["question_id"]]
        assert {k: got[k] for k in sent if k != "question_id"} == {
            k: v for k, v in sent.items() if k != "question_id"
        }
        assert got["revision"] == 1
        assert got["apiVersion"]


def test_template_revisions_are_respected(emulator, api, build) -> None:
    entry = build.session()
    qid = entry["responses"][0]["question_id"]
    entry["responses"][0].update(value=["1"], revision=2)
    api.submit(build.from_template(entry))
    entry["responses"][0] = {**entry["responses"][0], "value": ["3"]}
    del entry["responses"][0]["revision"]  # revision 1 < 2: skipped
    api.submit(build.from_template(entry))
    assert emulator.stored_sessions()[0]["responses"][qid]["value"] == ["1"]
    api.submit(build.from_template(entry, ignore_response_revisions=True))
    assert emulator.stored_sessions()[0]["responses"][qid]["value"] == ["3"]


def _blob_session(revision: int, value: list[str], session_id: str | None = None) -> dict[str, Any]:
    return {
        "session_id": session_id or str(uuid.uuid4()),
        "user_id": "student-00007",
        "activity_id": "demo-biology-cells-u3",
        "dt_saved": "2026-03-01T09:30:00+00:00",
        "responses": {
            "q-organelle": {"value": value, "type": "array", "apiVersion": "v2.197.0", "revision": revision}
        },
    }


def _failed(*blobs: str, **extra: Any) -> dict[str, Any]:
    return {"data_format": "failed_submission", "data": list(blobs), **extra}


def test_failed_submission_is_stored(emulator, api) -> None:
    session = _blob_session(3, ["2"])
    data = api.submit(_failed(encode_failed_session(session)))
    assert data == {
        "data_format": "failed_submission",
        "sessions_total": 1,
        "sessions_stored": [session["session_id"]],
        "errors": [],
    }
    (stored,) = emulator.stored_sessions()
    assert stored["responses"]["q-organelle"] == session["responses"]["q-organelle"]
    assert stored["dt_saved"] == "2026-03-01 09:30:00"


def test_failed_submission_revisions_and_ignore_response_revisions(emulator, api) -> None:
    newer = _blob_session(3, ["2"])
    older = _blob_session(2, ["0"], session_id=newer["session_id"])
    api.submit(_failed(encode_failed_session(newer)))
    api.submit(_failed(encode_failed_session(older)))
    (stored,) = emulator.stored_sessions()
    assert (stored["writes"], stored["responses"]["q-organelle"]["value"]) == (2, ["2"])
    api.submit(_failed(encode_failed_session(older), ignore_response_revisions=True))
    (stored,) = emulator.stored_sessions()
    assert (stored["writes"], stored["responses"]["q-organelle"]["revision"]) == (3, 2)


def test_failed_submission_blob_errors_are_listed(emulator, api) -> None:
    good = _blob_session(1, ["1"])
    no_user = {k: v for k, v in _blob_session(1, ["1"]).items() if k != "user_id"}
    blobs = [
        encode_failed_session(good),
        "not base64!",
        base64.b64encode(b"\xff\xfe").decode(),
        encode_failed_session(no_user),
        base64.b64encode(b"[1]").decode(),
    ]
    data = api.submit(_failed(*blobs))
    assert data["sessions_stored"] == [good["session_id"]]
    assert [(e["index"], e["code"], e["session_id"]) for e in data["errors"]] == [
        (1, "not_base64", None),
        (2, "not_utf8", None),
        (3, "missing_identity", None),
        (4, "not_object", None),
    ]
    assert len(emulator.stored_sessions()) == 1


def test_failed_submission_in_other_shapes_is_stored_as_identified(emulator, api) -> None:
    """The inside of a blob is not documented: whatever names a session, user and activity is stored."""
    flat = _blob_session(2, ["1"], session_id="not-a-uuid-7")
    nested = {
        "meta": {"user_id": "student-00008", "activity": {"reference": "demo-biology-cells-u3"}},
        "session": {
            "id": str(uuid.uuid4()),
            "dtSaved": "2026-03-02T10:00:00Z",
            "responses": flat["responses"],
        },
    }
    camel = {
        "sessionId": str(uuid.uuid4()),
        "userId": "student-00009",
        "activityId": "demo-biology-cells-u3",
        "responses": {"q-organelle": {"value": ["3"], "type": "array"}, "q-junk": "not an object"},
    }
    data = api.submit(_failed(*(encode_failed_session(d) for d in (flat, nested, camel))))
    assert data["errors"] == []
    stored = {s["user_id"]: s for s in emulator.stored_sessions()}
    assert stored["student-00007"]["session_id"] == "not-a-uuid-7"
    assert stored["student-00008"]["session_id"] == nested["session"]["id"]
    assert stored["student-00008"]["dt_saved"] == "2026-03-02 10:00:00"
    assert stored["student-00008"]["responses"]["q-organelle"] == flat["responses"]["q-organelle"]
    assert stored["student-00009"]["responses"] == {"q-organelle": {"value": ["3"], "type": "array"}}


def test_failed_submission_without_a_revision_counts_as_revision_1(emulator, api) -> None:
    session = _blob_session(2, ["1"])
    api.submit(_failed(encode_failed_session(session)))
    del session["responses"]["q-organelle"]["revision"]
    session["responses"]["q-organelle"]["value"] = ["0"]
    api.submit(_failed(encode_failed_session(session)))  # 1 < 2: kept as it was
    (stored,) = emulator.stored_sessions()
    assert stored["responses"]["q-organelle"]["value"] == ["1"]


def test_failed_submission_duplicates_in_one_request(api) -> None:
    blob = encode_failed_session(_blob_session(1, ["1"]))
    data = api.submit(_failed(blob, blob))
    assert data["sessions_stored"] == []
    assert {e["code"] for e in data["errors"]} == {"duplicate_session"}
