"""The failed-submission blob: the client's one validator of its format.

When Items/Assess API cannot save a session it offers the learner a base64 string of the session
data. Learnosity does not document what is inside, so this module fixes the format the project
accepts until a real blob is captured (the emulator decodes blobs by its own rules):

    base64 (standard alphabet, padding required) of UTF-8 JSON
    {
      "session_id": "<uuid>",             # 8-4-4-4-12 hex
      "user_id": "<non-empty string>",
      "activity_id": "<non-empty string>",
      "dt_saved": "<ISO-8601>",           # optional
      "responses": {                      # at least one, keyed by question (response) id
        "<question_id>": {
          "value": <array | string | null>,   # must match "type"
          "type": "array" | "string",
          "apiVersion": "<non-empty string>",
          "revision": <int >= 1>,
          "characterCount": <int >= 0>,       # optional
          "wordCount": <int >= 0>,            # optional
          "responses": [...]                  # optional (clozeformula boxes)
        }
      }
    }

ASCII whitespace and line breaks anywhere in the text are dropped before decoding, because
copying the string out of the failed-submission dialog or an email adds them. Everything else
is strict: a wrong alphabet or padding is `not_base64`, never silently repaired.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final, Literal, TypeGuard

from pydantic import BaseModel, ConfigDict

MAX_DECODED_BYTES: Final = 5 * 1024 * 1024
_ASCII_WHITESPACE: Final = b" \t\n\r\x0b\x0c"
_SESSION_ID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

EMPTY: Final = "empty"
TOO_LARGE: Final = "too_large"
NOT_BASE64: Final = "not_base64"
NOT_UTF8: Final = "not_utf8"
NOT_JSON: Final = "not_json"
NOT_OBJECT: Final = "not_object"
MISSING_IDENTITY: Final = "missing_identity"
INVALID_SESSION_ID: Final = "invalid_session_id"
INVALID_DT_SAVED: Final = "invalid_dt_saved"
MISSING_RESPONSES: Final = "missing_responses"
INVALID_RESPONSE: Final = "invalid_response"


class BlobError(ValueError):
    """Why a blob cannot be replayed: a stable reason code and a readable message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class FailedResponse(BaseModel):
    """One stored response object as the blob carries it (unknown extra fields are kept)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    value: Any
    type: Literal["array", "string"]
    apiVersion: str
    revision: int
    characterCount: int | None = None
    wordCount: int | None = None
    responses: list[Any] | None = None


class FailedSession(BaseModel):
    """A decoded, validated failed submission."""

    model_config = ConfigDict(frozen=True)

    session_id: str
    user_id: str
    activity_id: str
    dt_saved: str | None = None
    responses: dict[str, FailedResponse]


def is_session_id(value: Any) -> bool:
    """Session ids are UUIDs in their canonical 8-4-4-4-12 form."""
    return isinstance(value, str) and bool(_SESSION_ID.match(value))


def _non_empty_str(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _is_count(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _response_problem(obj: Any) -> str | None:
    if not isinstance(obj, Mapping):
        return "must be an object"
    kind = obj.get("type")
    if kind not in ("array", "string"):
        return f"type must be 'array' or 'string', got {kind!r}"
    if "value" not in obj:
        return "value is missing (use null for unattempted)"
    value = obj["value"]
    if value is not None and not isinstance(value, list if kind == "array" else str):
        return f"value must be {'an array' if kind == 'array' else 'a string'} or null"
    if not _non_empty_str(obj.get("apiVersion")):
        return "apiVersion must be a non-empty string"
    revision = obj.get("revision")
    if not _is_count(revision) or revision < 1:
        return f"revision must be an integer >= 1, got {revision!r}"
    for field in ("characterCount", "wordCount"):
        if field in obj and not _is_count(obj[field]):
            return f"{field} must be an integer >= 0"
    if "responses" in obj and not isinstance(obj["responses"], list):
        return "responses must be an array"
    return None


def _ascii_text(blob: str | bytes) -> bytes:
    if isinstance(blob, str):
        try:
            return blob.encode("ascii")
        except UnicodeEncodeError:
            raise BlobError(NOT_BASE64, "contains characters outside the base64 alphabet") from None
    return bytes(blob)


def _decode_base64(blob: str | bytes, max_bytes: int) -> bytes:
    text = _ascii_text(blob).translate(None, _ASCII_WHITESPACE)
    if not text:
        raise BlobError(EMPTY, "the blob is empty")
    if len(text) > 4 * math.ceil(max_bytes / 3):
        raise BlobError(TOO_LARGE, f"decodes to more than {max_bytes} bytes")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BlobError(NOT_BASE64, f"not valid base64 ({exc})") from None
    if len(raw) > max_bytes:
        raise BlobError(TOO_LARGE, f"decodes to {len(raw)} bytes, more than {max_bytes}")
    return raw


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _decode_json(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BlobError(NOT_UTF8, f"decoded bytes are not UTF-8 (byte {exc.start})") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        raise BlobError(NOT_JSON, f"decoded text is not JSON ({exc})") from None


def _check_identity(doc: Mapping[str, Any]) -> None:
    missing = [f for f in ("session_id", "user_id", "activity_id") if not _non_empty_str(doc.get(f))]
    if missing:
        raise BlobError(MISSING_IDENTITY, f"needs a non-empty string for {', '.join(missing)}")
    if not is_session_id(doc["session_id"]):
        raise BlobError(INVALID_SESSION_ID, f"session_id {doc['session_id']!r} is not a UUID")
    dt_saved = doc.get("dt_saved")
    if dt_saved is not None:
        try:
            datetime.fromisoformat(dt_saved)
        except (TypeError, ValueError):
            raise BlobError(INVALID_DT_SAVED, f"dt_saved {dt_saved!r} is not an ISO-8601 time") from None


def _check_responses(doc: Mapping[str, Any]) -> None:
    responses = doc.get("responses")
    if not isinstance(responses, Mapping) or not responses:
        raise BlobError(MISSING_RESPONSES, "responses must be a non-empty object keyed by question id")
    for question_id, obj in responses.items():
        problem = _response_problem(obj)
        if problem:
            raise BlobError(INVALID_RESPONSE, f"response {question_id!r}: {problem}")


def decode_failed_session(blob: str | bytes, *, max_bytes: int = MAX_DECODED_BYTES) -> FailedSession:
    """The session inside a blob, or `BlobError` with the first reason it cannot be replayed."""
    doc = _decode_json(_decode_base64(blob, max_bytes))
    if not isinstance(doc, dict):
        raise BlobError(NOT_OBJECT, f"decoded JSON is a {type(doc).__name__}, not an object")
    _check_identity(doc)
    _check_responses(doc)
    return FailedSession.model_validate(doc)


def encode_failed_session(session: Mapping[str, Any]) -> str:
    """A blob for this session document, exactly as given (use `decode_failed_session` to validate)."""
    text = json.dumps(session, separators=(",", ":"), ensure_ascii=False)
    return base64.b64encode(text.encode("utf-8")).decode("ascii")
