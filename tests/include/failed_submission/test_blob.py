"""The failed-submission blob validator, on good and bad blobs of every kind."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from learnosity_core.failed_submission.blob import (
    BlobError,
    FailedSession,
    decode_failed_session,
    encode_failed_session,
    is_session_id,
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
    assert session.responses["q-organelle"].revision == 2
    assert (
        session.responses["q-process"].model_dump(exclude_unset=True) == _session()["responses"]["q-process"]
    )
    assert session.responses["q-essay"].value is None


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
    blob = _with_response(resetState="attemptedAfterReset")
    assert decode_failed_session(blob).responses["q1"].model_dump(exclude_unset=True)["resetState"] == (
        "attemptedAfterReset"
    )


def _code(blob: str | bytes, **kwargs: Any) -> str:
    with pytest.raises(BlobError) as raised:
        decode_failed_session(blob, **kwargs)
    assert raised.value.message
    return raised.value.code


@pytest.mark.parametrize(
    ("blob", "code"),
    [
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
        pytest.param(encode_failed_session(_session(user_id="")), "missing_identity", id="empty-user"),
        pytest.param(
            encode_failed_session({k: v for k, v in _session().items() if k != "activity_id"}),
            "missing_identity",
            id="no-activity",
        ),
        pytest.param(
            encode_failed_session(_session(session_id=7)), "missing_identity", id="session-id-number"
        ),
        pytest.param(
            encode_failed_session(_session(session_id="session-42")), "invalid_session_id", id="bad-uuid"
        ),
        pytest.param(
            encode_failed_session(_session(session_id=SESSION_ID.replace("-", ""))),
            "invalid_session_id",
            id="uuid-without-hyphens",
        ),
        pytest.param(
            encode_failed_session(_session(dt_saved="yesterday")), "invalid_dt_saved", id="bad-dt-saved"
        ),
        pytest.param(encode_failed_session(_session(responses={})), "missing_responses", id="no-responses"),
        pytest.param(
            encode_failed_session(_session(responses=[1])), "missing_responses", id="responses-list"
        ),
        pytest.param(_with_response(type="object"), "invalid_response", id="bad-type"),
        pytest.param(_with_response(value="1"), "invalid_response", id="value-kind"),
        pytest.param(_with_response(value="DROP"), "invalid_response", id="no-value"),
        pytest.param(_with_response(apiVersion=""), "invalid_response", id="no-api-version"),
        pytest.param(_with_response(revision=0), "invalid_response", id="revision-zero"),
        pytest.param(_with_response(revision="1"), "invalid_response", id="revision-string"),
        pytest.param(_with_response(revision=True), "invalid_response", id="revision-bool"),
        pytest.param(_with_response(wordCount=-1), "invalid_response", id="negative-count"),
        pytest.param(_with_response(responses="x"), "invalid_response", id="boxes-not-array"),
        pytest.param(
            encode_failed_session(_session(responses={"q1": "2"})), "invalid_response", id="not-object"
        ),
    ],
)
def test_invalid_blobs(blob: str, code: str) -> None:
    assert _code(blob) == code


def test_too_large() -> None:
    blob = encode_failed_session(_session(padding="x" * 2000))
    assert _code(blob, max_bytes=1000) == "too_large"
    assert decode_failed_session(blob, max_bytes=4000).session_id == SESSION_ID


def test_too_large_is_refused_before_decoding() -> None:
    huge = "A" * (4 * (6 * 1024 * 1024 // 3))
    assert _code(huge) == "too_large"


def test_error_names_the_response() -> None:
    with pytest.raises(BlobError) as raised:
        decode_failed_session(_with_response(revision=0))
    assert "q1" in raised.value.message
    assert str(raised.value).startswith("invalid_response: ")


def test_encode_is_plain_base64_of_compact_json() -> None:
    blob = encode_failed_session({"a": "é"})
    assert json.loads(base64.b64decode(blob, validate=True)) == {"a": "é"}


def test_is_session_id() -> None:
    assert is_session_id(SESSION_ID)
    assert is_session_id(SESSION_ID.upper())
    assert not is_session_id("{" + SESSION_ID + "}")
    assert not is_session_id(None)
