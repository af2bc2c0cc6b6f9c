"""A failed-submission blob, decoded into the session the emulator stores or rejected with the reason.

The Failed Submissions page documents each entry only as a base64 string of "the learner's
session data" (the reference notes, section 7); what is inside is not published. So the emulator
holds a blob to the documented envelope and stores whatever session it can identify in it:

- the envelope: RFC 4648 standard base64 with padding (ASCII whitespace ignored, since the
  string is copied out of a dialog or an email) of UTF-8 JSON that is an object; no size limit
  is documented, so none is applied;
- identity: a session id (any non-blank string), a user id and an activity id, each looked for
  in the object itself or in an object below it (`session`, `meta`, `activity`, `request`,
  `user`, `data`, two levels at most), by its snake_case or camelCase name, or as the `id` of
  the object it names (`session.id`, `user.id`, `activity.id` or `activity.reference`). A blob
  naming no session, user or activity cannot be stored: `missing_identity`;
- what is stored: the first non-empty `responses` object found the same way, one response per
  key whose value is an object, as sent; its `revision` (1 when it gives no integer of at least
  1) is what revision handling compares. `dt_saved`/`dtSaved`, when it is an ISO-8601 time, is
  the save time; anything else is ignored.

These rules are the emulator's own, written apart from the client's so that the two can witness
each other (tests/devtools/emulator/test_emulator_witness.py).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from learnosity_devtools.emulator.codes import (
    EMPTY,
    MISSING_IDENTITY,
    NOT_BASE64,
    NOT_JSON,
    NOT_OBJECT,
    NOT_UTF8,
    Rejected,
)

_ASCII_WHITESPACE: Final = re.compile(r"[ \t\n\r\f\v]+")
_NESTED: Final = ("session", "meta", "activity", "request", "user", "data")
_DEPTH: Final = 2
# field -> its names anywhere, and the names it has inside the object it identifies
_FIELDS: Final[dict[str, tuple[tuple[str, ...], str | None, tuple[str, ...]]]] = {
    "session_id": (("session_id", "sessionId"), "session", ("id",)),
    "user_id": (("user_id", "userId"), "user", ("id",)),
    "activity_id": (("activity_id", "activityId"), "activity", ("id", "reference")),
    "dt_saved": (("dt_saved", "dtSaved"), None, ()),
    "responses": (("responses",), None, ()),
}


@dataclass(frozen=True)
class FailedSession:
    session_id: str
    user_id: str
    activity_id: str
    saved_at: float | None  # epoch seconds of `dt_saved`; None when the blob gives none
    responses: dict[str, dict[str, Any]]  # stored as sent, by response id
    revisions: dict[str, int]  # by response id: what revision handling compares


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


def read_envelope(blob: str) -> dict[str, Any]:
    """The JSON object a blob carries, or `Rejected` when it is not the documented envelope."""
    try:
        doc = json.loads(_json_text(blob), parse_constant=_no_constants)
    except ValueError as exc:
        raise Rejected(NOT_JSON, f"the decoded text is not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise Rejected(NOT_OBJECT, f"the decoded JSON is a {type(doc).__name__}, not an object")
    return doc


def _objects(doc: Mapping[str, Any]) -> Iterator[tuple[str | None, Mapping[str, Any]]]:
    """The document, then the objects below it, breadth first, each with the key it is under."""
    level: list[tuple[str | None, Mapping[str, Any]]] = [(None, doc)]
    for depth in range(_DEPTH + 1):
        yield from level
        if depth < _DEPTH:
            level = [(k, obj[k]) for _, obj in level for k in _NESTED if isinstance(obj.get(k), Mapping)]


def lookup(doc: Mapping[str, Any], field: str) -> list[Any]:
    """Every value the document gives for `field`, in the order the rules above try them."""
    names, owner, own = _FIELDS[field]
    return [obj[n] for key, obj in _objects(doc) for n in names + (own if key == owner else ()) if n in obj]


def _first_name(doc: Mapping[str, Any], field: str) -> str | None:
    return next((v for v in lookup(doc, field) if isinstance(v, str) and v.strip()), None)


def _saved_at(doc: Mapping[str, Any]) -> float | None:
    """Naive times are UTC, as the rest of the API's times are."""
    for value in lookup(doc, "dt_saved"):
        try:
            moment = datetime.fromisoformat(value)
        except (TypeError, ValueError):
            continue
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    return None


def _revision(response: Mapping[str, Any]) -> int:
    revision = response.get("revision")
    if isinstance(revision, int) and not isinstance(revision, bool) and revision >= 1:
        return revision
    return 1


def decode_blob(blob: str) -> FailedSession:
    """The session a blob holds, or `Rejected` with the reason it cannot be stored."""
    doc = read_envelope(blob)
    identity = {f: _first_name(doc, f) for f in ("session_id", "user_id", "activity_id")}
    missing = [f for f, v in identity.items() if v is None]
    if missing:
        raise Rejected(MISSING_IDENTITY, f"the session data names no {', '.join(missing)}")
    found = next((v for v in lookup(doc, "responses") if isinstance(v, Mapping) and v), {})
    responses = {str(rid): dict(obj) for rid, obj in found.items() if isinstance(obj, Mapping)}
    return FailedSession(
        session_id=str(identity["session_id"]),
        user_id=str(identity["user_id"]),
        activity_id=str(identity["activity_id"]),
        saved_at=_saved_at(doc),
        responses=responses,
        revisions={rid: _revision(obj) for rid, obj in responses.items()},
    )
