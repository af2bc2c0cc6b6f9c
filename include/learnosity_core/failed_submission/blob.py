"""The failed-submission blob: what must hold to send one, and what should hold to send it quietly.

Learnosity documents a blob as "a base64 encoded string" of the learner's session data and
nothing about what is inside; it validates what it receives. So this module checks two levels:

- **must** (a blob that fails is quarantined, never sent): not empty, at most 5 MiB decoded,
  base64 (standard alphabet, padding required) once ASCII whitespace and line breaks are dropped
  (copying the string out of the dialog or an email adds them), UTF-8, JSON, a JSON object;
- **should** (a blob that fails is sent anyway, with warnings in the report; `strict` turns the
  first one into its quarantine reason): a session, user and activity id found (`identity`),
  responses found, each response object in the shape seen from Questions API's `getResponse()`
  (`type` "array" or "string" matching `value`, non-empty `apiVersion`, integer `revision` >= 1,
  integer counts, `responses` an array), and `dt_saved` an ISO-8601 time.

A wrong alphabet or padding is `not_base64`, never silently repaired.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final, TypeGuard

from pydantic import BaseModel, ConfigDict

from learnosity_core.failed_submission.identity import BlobIdentity, find, find_identity

MAX_DECODED_BYTES: Final = 5 * 1024 * 1024
_ASCII_WHITESPACE: Final = b" \t\n\r\x0b\x0c"

# must: the blob is quarantined
EMPTY: Final = "empty"
TOO_LARGE: Final = "too_large"
NOT_BASE64: Final = "not_base64"
NOT_UTF8: Final = "not_utf8"
NOT_JSON: Final = "not_json"
NOT_OBJECT: Final = "not_object"
# should: the blob is sent with a warning (quarantined when strict)
MISSING_IDENTITY: Final = "missing_identity"
MISSING_RESPONSES: Final = "missing_responses"
INVALID_RESPONSE: Final = "invalid_response"
INVALID_DT_SAVED: Final = "invalid_dt_saved"


class BlobError(ValueError):
    """Why a blob is not sent: a stable reason code and a readable message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class BlobWarning(BaseModel):
    """A *should* check the blob fails: sent anyway, listed in the report."""

    model_config = ConfigDict(frozen=True)

    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class FailedSession(BaseModel):
    """A decoded blob: the JSON object, whose session it is as far as it says, and its warnings."""

    model_config = ConfigDict(frozen=True)

    document: dict[str, Any]
    identity: BlobIdentity
    responses: dict[str, Any]  # response id -> response object as found (empty when none found)
    dt_saved: str | None = None  # only when it parses
    warnings: list[BlobWarning] = []
    content_hash: str  # of the document: the same session hashes the same however it was encoded

    @property
    def session_id(self) -> str | None:
        return self.identity.session_id

    @property
    def user_id(self) -> str | None:
        return self.identity.user_id

    @property
    def activity_id(self) -> str | None:
        return self.identity.activity_id

    def newest_revision(self) -> int:
        """The highest integer `revision` among the responses (0 when none has one)."""
        return max((r["revision"] for r in self.responses.values() if _has_revision(r)), default=0)


def _is_count(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _has_revision(obj: Any) -> bool:
    return isinstance(obj, Mapping) and _is_count(obj.get("revision")) and obj["revision"] >= 1


def _response_problem(obj: Any) -> str | None:
    if not isinstance(obj, Mapping):
        return "is not an object"
    kind = obj.get("type")
    if kind not in ("array", "string"):
        return f"type is not 'array' or 'string' but {kind!r}"
    if "value" not in obj:
        return "has no value"
    value = obj["value"]
    if value is not None and not isinstance(value, list if kind == "array" else str):
        return f"value is not {'an array' if kind == 'array' else 'a string'} or null"
    api_version = obj.get("apiVersion")
    if not (isinstance(api_version, str) and api_version.strip()):
        return "has no apiVersion"
    if not _has_revision(obj):
        return f"revision is not an integer >= 1 but {obj.get('revision')!r}"
    for field in ("characterCount", "wordCount"):
        if field in obj and not _is_count(obj[field]):
            return f"{field} is not an integer >= 0"
    if "responses" in obj and not isinstance(obj["responses"], list):
        return "responses is not an array"
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


def decode_document(blob: str | bytes, *, max_bytes: int = MAX_DECODED_BYTES) -> dict[str, Any]:
    """The JSON object inside a blob, or `BlobError` with the first *must* check it fails."""
    raw = _decode_base64(blob, max_bytes)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BlobError(NOT_UTF8, f"decoded bytes are not UTF-8 (byte {exc.start})") from None
    try:
        doc = json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        raise BlobError(NOT_JSON, f"decoded text is not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise BlobError(NOT_OBJECT, f"decoded JSON is a {type(doc).__name__}, not an object")
    return doc


def _responses(doc: Mapping[str, Any]) -> tuple[dict[str, Any], list[BlobWarning]]:
    hit = find(doc, "responses", lambda v: isinstance(v, Mapping) and bool(v))
    if hit is None:
        message = "found no non-empty responses object keyed by response id"
        return {}, [BlobWarning(code=MISSING_RESPONSES, message=message)]
    responses, where = hit
    problems = [
        BlobWarning(code=INVALID_RESPONSE, message=f"{where}[{rid!r}] {problem}")
        for rid, obj in responses.items()
        if (problem := _response_problem(obj)) is not None
    ]
    return dict(responses), problems


def _dt_saved(doc: Mapping[str, Any]) -> tuple[str | None, list[BlobWarning]]:
    hit = find(doc, "dt_saved")
    if hit is None or hit[0] is None:
        return None, []
    value, where = hit
    try:
        datetime.fromisoformat(value)
    except (TypeError, ValueError):
        message = f"{where} {value!r} is not an ISO-8601 time"
        return None, [BlobWarning(code=INVALID_DT_SAVED, message=message)]
    return str(value), []


def decode_failed_session(
    blob: str | bytes, *, max_bytes: int = MAX_DECODED_BYTES, strict: bool = False
) -> FailedSession:
    """The session inside a blob with its *should* warnings; `BlobError` when a *must* check fails,
    or, when `strict`, the first *should* check."""
    doc = decode_document(blob, max_bytes=max_bytes)
    identity = find_identity(doc)
    warnings: list[BlobWarning] = []
    if identity.missing():
        message = f"found no non-blank {', '.join(identity.missing())}"
        warnings.append(BlobWarning(code=MISSING_IDENTITY, message=message))
    responses, problems = _responses(doc)
    warnings.extend(problems)
    dt_saved, dt_problems = _dt_saved(doc)
    warnings.extend(dt_problems)
    if strict and warnings:
        raise BlobError(warnings[0].code, warnings[0].message)
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return FailedSession(
        document=doc,
        identity=identity,
        responses=responses,
        dt_saved=dt_saved,
        warnings=warnings,
        content_hash=hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
    )


def encode_failed_session(session: Mapping[str, Any]) -> str:
    """A blob for this session document, exactly as given (use `decode_failed_session` to check it)."""
    text = json.dumps(session, separators=(",", ":"), ensure_ascii=False)
    return base64.b64encode(text.encode("utf-8")).decode("ascii")
