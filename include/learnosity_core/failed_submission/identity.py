"""Where a decoded blob keeps its session identity, its responses and its save time.

Learnosity documents the blob only as base64 of "the learner's session data"; nothing about the
JSON inside. So every field is looked for wherever it plausibly is, in this one module:

- in the document itself, then in the objects below it under `session`, `meta`, `activity`,
  `request`, `user`, `data` (breadth first, at most two levels down: `session.meta.user_id`);
- under its snake_case name or its camelCase one (`session_id` / `sessionId`), and, inside an
  object named for what it identifies, as its `id` (`session.id`, `activity.reference`, `user.id`).

The first place that holds a usable value wins. A session id is any non-blank string of at most
64 characters (Learnosity's own id, UUID or not; the ledger keys sessions by it and holds 64);
user and activity ids are non-blank strings.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final

from pydantic import BaseModel, ConfigDict

MAX_SESSION_ID_LENGTH: Final = 64
IDENTITY_FIELDS: Final = ("session_id", "user_id", "activity_id")
_CONTAINERS: Final = ("session", "meta", "activity", "request", "user", "data")
_MAX_DEPTH: Final = 2
# field -> (the names it goes by anywhere, and the object whose own id it is)
_NAMES: Final[dict[str, tuple[tuple[str, ...], str, tuple[str, ...]]]] = {
    "session_id": (("session_id", "sessionId"), "session", ("id", "session_id", "sessionId")),
    "user_id": (("user_id", "userId"), "user", ("id", "user_id", "userId")),
    "activity_id": (
        ("activity_id", "activityId"),
        "activity",
        ("id", "reference", "activity_id", "activityId"),
    ),
    "dt_saved": (("dt_saved", "dtSaved"), "session", ()),
    "responses": (("responses",), "session", ()),
}


class BlobIdentity(BaseModel):
    """Whose session a blob is, as far as it says; `found_at` names where each field was found."""

    model_config = ConfigDict(frozen=True)

    session_id: str | None = None
    user_id: str | None = None
    activity_id: str | None = None
    found_at: dict[str, str] = {}

    def missing(self) -> list[str]:
        return [f for f in IDENTITY_FIELDS if getattr(self, f) is None]


def _places(doc: Mapping[str, Any]) -> Iterator[tuple[str, str | None, Mapping[str, Any]]]:
    """(path, name of the object, the object) for the document and the objects below it."""
    level: list[tuple[str, str | None, Mapping[str, Any]]] = [("", None, doc)]
    for depth in range(_MAX_DEPTH + 1):
        yield from level
        if depth == _MAX_DEPTH:
            return
        level = [
            (f"{path}{key}.", key, obj[key])
            for path, _, obj in level
            for key in _CONTAINERS
            if isinstance(obj.get(key), Mapping)
        ]


def find(doc: Mapping[str, Any], field: str, usable: Any = None) -> tuple[Any, str] | None:
    """The first usable value of `field` (see the module's rules) and the path it was found at."""
    names, owner, own_ids = _NAMES[field]
    for path, name, obj in _places(doc):
        keys = names + (own_ids if name == owner else ())
        for key in keys:
            if key in obj and (usable is None or usable(obj[key])):
                return obj[key], f"{path}{key}"
    return None


def _is_name(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _is_session_id(value: Any) -> bool:
    return _is_name(value) and len(value) <= MAX_SESSION_ID_LENGTH


def find_identity(doc: Mapping[str, Any]) -> BlobIdentity:
    """The session, user and activity a blob names, each wherever it plausibly is."""
    values: dict[str, Any] = {}
    found_at: dict[str, str] = {}
    for field in IDENTITY_FIELDS:
        hit = find(doc, field, _is_session_id if field == "session_id" else _is_name)
        if hit is not None:
            values[field], found_at[field] = hit
    return BlobIdentity(**values, found_at=found_at)
