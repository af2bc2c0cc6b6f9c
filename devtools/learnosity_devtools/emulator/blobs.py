"""A failed-submission blob, decoded into the session the emulator stores or rejected with the reason.

The Failed Submissions page says only that each entry is a base64 string of "the learner's
session data", as Items/Assess API offer it when a save fails; what is inside is not published.
The emulator reads the format the reference notes (section 7) settle on until a real blob is
captured: base64 of a UTF-8 JSON object naming the session (`session_id` a UUID, `user_id`,
`activity_id`), with an optional ISO-8601 `dt_saved` and `responses` keyed by response id, each
a response object as Questions API's `getResponse()` documents it (`type`, `value` a string or
an array, `apiVersion`) plus the `revision` that revision handling compares.

Base64 is RFC 4648's standard alphabet with padding; ASCII whitespace is ignored, because the
string is copied out of a dialog or an email. No size limit is documented, so none is applied.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from learnosity_devtools.emulator.codes import (
    EMPTY,
    INVALID_DT_SAVED,
    INVALID_RESPONSE,
    MISSING_RESPONSES,
    NOT_BASE64,
    NOT_JSON,
    NOT_OBJECT,
    NOT_UTF8,
    Rejected,
)
from learnosity_devtools.emulator.identity import check_identity

_ASCII_WHITESPACE: Final = re.compile(r"[ \t\n\r\f\v]+")
_VALUE_TYPES: Final[dict[str, type]] = {"array": list, "string": str}


@dataclass(frozen=True)
class FailedSession:
    session_id: str
    user_id: str
    activity_id: str
    saved_at: float | None  # epoch seconds of `dt_saved`; None when the blob has none
    responses: dict[str, dict[str, Any]]  # stored as sent, by response id


def _json_text(blob: str) -> str:
    compact = _ASCII_WHITESPACE.sub("", blob)
    if not compact:
        raise Rejected(EMPTY, "the blob is empty")
    try:
        raw = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Rejected(NOT_BASE64, f"not standard base64 with padding ({exc})") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Rejected(NOT_UTF8, f"the decoded bytes are not UTF-8 (byte {exc.start})") from None


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _document(text: str) -> dict[str, Any]:
    try:
        doc = json.loads(text, parse_constant=_no_constants)
    except ValueError as exc:
        raise Rejected(NOT_JSON, f"the decoded text is not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise Rejected(NOT_OBJECT, f"the decoded JSON is a {type(doc).__name__}, not an object")
    return doc


def _saved_at(dt_saved: Any) -> float | None:
    """Naive times are UTC, as the rest of the API's times are."""
    if dt_saved is None:
        return None
    try:
        moment = datetime.fromisoformat(dt_saved)
    except (TypeError, ValueError):
        raise Rejected(INVALID_DT_SAVED, f"dt_saved {dt_saved!r} is not an ISO-8601 time") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _is_count(value: Any, least: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def _response_fault(obj: Any) -> str | None:
    if not isinstance(obj, dict):
        return "must be an object"
    kind = obj.get("type")
    if kind not in _VALUE_TYPES:
        return f"type must be 'array' or 'string', got {kind!r}"
    if "value" not in obj:
        return "value is missing (null records an unattempted question)"
    if obj["value"] is not None and not isinstance(obj["value"], _VALUE_TYPES[kind]):
        return f"value must be {'an array' if kind == 'array' else 'a string'} or null for type {kind!r}"
    api_version = obj.get("apiVersion")
    if not (isinstance(api_version, str) and api_version.strip()):
        return "apiVersion must be a non-empty string"
    if not _is_count(obj.get("revision"), 1):
        return f"revision must be an integer of at least 1, got {obj.get('revision')!r}"
    for count in ("characterCount", "wordCount"):
        if count in obj and not _is_count(obj[count], 0):
            return f"{count} must be an integer of at least 0"
    if "responses" in obj and not isinstance(obj["responses"], list):
        return "responses must be an array"
    return None


def _responses(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    responses = doc.get("responses")
    if not isinstance(responses, dict) or not responses:
        raise Rejected(MISSING_RESPONSES, "responses must be an object with a response per response id")
    for response_id, obj in responses.items():
        fault = _response_fault(obj)
        if fault is not None:
            raise Rejected(INVALID_RESPONSE, f"response {response_id!r}: {fault}")
    return responses


def decode_blob(blob: str) -> FailedSession:
    """The session a blob holds, or `Rejected` with the first reason it cannot be stored."""
    doc = _document(_json_text(blob))
    check_identity(doc)
    saved_at = _saved_at(doc.get("dt_saved"))
    return FailedSession(
        session_id=doc["session_id"],
        user_id=doc["user_id"],
        activity_id=doc["activity_id"],
        saved_at=saved_at,
        responses=_responses(doc),
    )
