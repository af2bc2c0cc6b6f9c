"""The failed-submission blob: *must* checks refuse it, *should* checks only warn (unless strict)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from learnosity_core.failed_submission.blob import (
    BlobError,
    FailedSession,
    decode_document,
    decode_failed_session,
    encode_failed_session,
)

SESSION_ID = "5f0c8a3e-2b7d-4c1a-9e6f-0a1b2c3d4e5f"


def _session(**changes: Any) -> dict[str, Any]:
    session: dict[str, Any] = {
        "session_id": SESSION_ID,
        "user_id": "student-00042",
        "activity_id": "demo-biology-cells-u3",
        "dt_saved": "2026-03-01T09:30:00Z",
        "responses": {
            "q-organelle": {"value": ["2"], "type": "array", "apiVersion": "v2.197.0", "revision": 2},
            "q-process": {
                "value": "photo+synthesis",
                "type": "string",
                "apiVersion": "v2.197.0",
                "revision": 1,
                "characterCount": 15,
            },
            "q-essay": {"value": None, "type": "string", "apiVersion": "v2.197.0", "revision": 1},
        },
    }
    session.update(changes)
    return session


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _with_response(**fields: Any) -> str:
    response = {"value": ["1"], "type": "array", "apiVersion": "v2.197.0", "revision": 1, **fields}
    return encode_failed_session(
        _session(responses={"q1": {k: v for k, v in response.items() if v != "DROP"}})
    )


def test_valid_blob() -> None:
    session = decode_failed_session(encode_failed_session(_session()))
    assert isinstance(session, FailedSession)
    assert (session.session_id, session.user_id, session.activity_id) == (
        SESSION_ID,
        "student-00042",
        "demo-biology-cells-u3",
    )
    assert session.warnings == []
    assert session.dt_saved == "2026-03-01T09:30:00Z"
    assert session.responses == _session()["responses"]
    assert session.newest_revision() == 2
    assert session.document == _session()


def test_bytes_and_unicode_content() -> None:
    blob = encode_failed_session(_session(user_id="élève-Ōsaka"))
    assert decode_failed_session(blob.encode("ascii")).user_id == "élève-Ōsaka"


def test_whitespace_and_line_breaks_are_tolerated() -> None:
    blob = encode_failed_session(_session())
    wrapped = "  \n" + "\r\n".join(blob[i : i + 76] for i in range(0, len(blob), 76)) + "\n\t "
    assert decode_failed_session(wrapped).session_id == SESSION_ID
    spaced = " ".join(blob[i : i + 4] for i in range(0, len(blob), 4))
    assert decode_failed_session(spaced).session_id == SESSION_ID


def test_unknown_fields_are_kept() -> None:
    session = decode_failed_session(_with_response(resetState="attemptedAfterReset"))
    assert session.responses["q1"]["resetState"] == "attemptedAfterReset"
    assert session.warnings == []


def test_other_shapes_are_read_without_warnings() -> None:
    nested = {
        "meta": {"user_id": "student-00042", "activity": {"reference": "demo-biology-cells-u3"}},
        "session": {
            "id": "not-a-uuid-42",
            "dt_saved": "2026-03-01T09:30:00",
            "responses": _session()["responses"],
        },
    }
    session = decode_failed_session(encode_failed_session(nested))
    assert (session.session_id, session.user_id, session.activity_id) == (
        "not-a-uuid-42",
        "student-00042",
        "demo-biology-cells-u3",
    )
    assert session.warnings == [] and session.newest_revision() == 2 and session.dt_saved

    camel = {"sessionId": SESSION_ID, "userId": "u", "activityId": "a", "dtSaved": "2026-03-01T09:30:00Z"}
    camel["responses"] = {"q1": {"value": ["1"], "type": "array", "revision": 3}}
    session = decode_failed_session(encode_failed_session(camel))
    assert session.session_id == SESSION_ID and session.newest_revision() == 3
    assert [(w.code, w.message) for w in session.warnings] == [
        ("invalid_response", "responses['q1'] has no apiVersion")
    ], "sent anyway; strict would hold it back"


def _code(blob: str | bytes, **kwargs: Any) -> str:
    with pytest.raises(BlobError) as raised:
        decode_failed_session(blob, **kwargs)
    assert raised.value.message
    return raised.value.code


# Each fails a *must* check: never sent, strict or not.
MUST: list[Any] = [
    pytest.param("", "empty", id="empty"),
    pytest.param(" \n\t\r\n", "empty", id="only-whitespace"),
    pytest.param("not base64!", "not_base64", id="alphabet"),
    pytest.param(encode_failed_session(_session())[:-2], "not_base64", id="padding-removed"),
    pytest.param(base64.urlsafe_b64encode(b"\xfb\xef\xbe").decode(), "not_base64", id="urlsafe-alphabet"),
    pytest.param("ZXlK€€", "not_base64", id="non-ascii"),
    pytest.param(_b64(b"\xff\xfe\x00junk"), "not_utf8", id="not-utf8"),
    pytest.param(_b64(bytes(range(128, 256))), "not_utf8", id="binary-junk"),
    pytest.param(_b64(b"session_id=1&user_id=2"), "not_json", id="not-json"),
    pytest.param(_b64(b'{"session_id": NaN}'), "not_json", id="nan"),
    pytest.param(_b64(b"[1, 2, 3]"), "not_object", id="array"),
    pytest.param(_b64(b'"just a string"'), "not_object", id="string"),
    pytest.param(_b64(b"null"), "not_object", id="null"),
]


@pytest.mark.parametrize(("blob", "code"), MUST)
@pytest.mark.parametrize("strict", [False, True])
def test_must_checks_refuse_the_blob(blob: str, code: str, strict: bool) -> None:
    assert _code(blob, strict=strict) == code


# Each fails a *should* check: sent with a warning, or refused with that reason when strict.
SHOULD: list[Any] = [
    pytest.param(encode_failed_session(_session(user_id="")), "missing_identity", id="empty-user"),
    pytest.param(
        encode_failed_session({k: v for k, v in _session().items() if k != "activity_id"}),
        "missing_identity",
        id="no-activity",
    ),
    pytest.param(encode_failed_session(_session(session_id=7)), "missing_identity", id="session-id-number"),
    pytest.param(
        encode_failed_session({"responses": _session()["responses"]}),
        "missing_identity",
        id="no-identity-at-all",
    ),
    pytest.param(
        encode_failed_session(_session(dt_saved="yesterday")), "invalid_dt_saved", id="bad-dt-saved"
    ),
    pytest.param(
        encode_failed_session(_session(dt_saved=1772357400)), "invalid_dt_saved", id="epoch-dt-saved"
    ),
    pytest.param(encode_failed_session(_session(responses={})), "missing_responses", id="no-responses"),
    pytest.param(encode_failed_session(_session(responses=[1])), "missing_responses", id="responses-list"),
    pytest.param(_with_response(type="object"), "invalid_response", id="bad-type"),
    pytest.param(_with_response(value="1"), "invalid_response", id="value-kind"),
    pytest.param(_with_response(value="DROP"), "invalid_response", id="no-value"),
    pytest.param(_with_response(apiVersion=""), "invalid_response", id="no-api-version"),
    pytest.param(_with_response(revision=0), "invalid_response", id="revision-zero"),
    pytest.param(_with_response(revision="1"), "invalid_response", id="revision-string"),
    pytest.param(_with_response(revision=True), "invalid_response", id="revision-bool"),
    pytest.param(_with_response(wordCount=-1), "invalid_response", id="negative-count"),
    pytest.param(_with_response(responses="x"), "invalid_response", id="boxes-not-array"),
    pytest.param(encode_failed_session(_session(responses={"q1": "2"})), "invalid_response", id="not-object"),
]


@pytest.mark.parametrize(("blob", "code"), SHOULD)
def test_should_checks_warn_and_strict_refuses(blob: str, code: str) -> None:
    session = decode_failed_session(blob)
    assert [w.code for w in session.warnings] == [code]
    assert session.warnings[0].message
    assert _code(blob, strict=True) == code


def test_warnings_add_up_and_strict_names_the_first() -> None:
    doc = {"user_id": "u", "dt_saved": "soon", "responses": {"a": {"type": "x"}, "b": {"type": "x"}}}
    session = decode_failed_session(encode_failed_session(doc))
    assert [w.code for w in session.warnings] == [
        "missing_identity",
        "invalid_response",
        "invalid_response",
        "invalid_dt_saved",
    ]
    assert "session_id, activity_id" in session.warnings[0].message
    assert session.session_id is None and session.dt_saved is None and session.newest_revision() == 0
    assert _code(encode_failed_session(doc), strict=True) == "missing_identity"


def test_too_large() -> None:
    blob = encode_failed_session(_session(padding="x" * 2000))
    assert _code(blob, max_bytes=1000) == "too_large"
    assert decode_failed_session(blob, max_bytes=4000).session_id == SESSION_ID


def test_too_large_is_refused_before_decoding() -> None:
    huge = "A" * (4 * (6 * 1024 * 1024 // 3))
    assert _code(huge) == "too_large"


def test_the_warning_names_the_response() -> None:
    (warning,) = decode_failed_session(_with_response(revision=0)).warnings
    assert "q1" in warning.message and str(warning).startswith("invalid_response: ")


def test_the_content_hash_ignores_encoding_but_not_content() -> None:
    doc = _session()
    reordered = dict(reversed(list(doc.items())))
    blob = encode_failed_session(doc)
    same = {
        decode_failed_session(blob).content_hash,
        decode_failed_session("\n".join(blob[i : i + 60] for i in range(0, len(blob), 60))).content_hash,
        decode_failed_session(encode_failed_session(reordered)).content_hash,
        decode_failed_session(_b64(json.dumps(doc, indent=2).encode())).content_hash,
    }
    assert len(same) == 1
    assert decode_failed_session(encode_failed_session(_session(user_id="other"))).content_hash not in same


def test_decode_document_is_the_must_level_alone() -> None:
    assert decode_document(encode_failed_session({"anything": 1})) == {"anything": 1}
    with pytest.raises(BlobError):
        decode_document(_b64(b"[]"))


def test_encode_is_plain_base64_of_compact_json() -> None:
    blob = encode_failed_session({"a": "é"})
    assert json.loads(base64.b64decode(blob, validate=True)) == {"a": "é"}
