"""Session ids: a given one is kept as is, a missing one is derived so every run agrees on it.

The derived id is UUIDv5 under `SESSION_NAMESPACE` of the name
`activity_id + "\\x1f" + user_id`, followed by `"\\x1f" + attempt` when an attempt is given
(ASCII unit separator, text as stored). Anyone can recompute it, e.g. in PostgreSQL:
`uuid_generate_v5('9b9f719d-ae1e-5f67-9f12-8e25e40a95b5', activity_id || chr(31) || user_id)`.
"""

from __future__ import annotations

import re
import uuid
from typing import Final

# = uuid5(NAMESPACE_URL, "urn:learnosity-airflow:from-template-session"); never change it, or every
# derived session id changes and re-runs create new sessions instead of updating the old ones.
SESSION_NAMESPACE: Final = uuid.UUID("9b9f719d-ae1e-5f67-9f12-8e25e40a95b5")
NAME_SEPARATOR: Final = "\x1f"
# The canonical text form only: braces, `urn:uuid:` or missing hyphens are not what the Data API expects.
_SESSION_ID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")


def derive_session_id(activity_id: str, user_id: str, attempt: str | None = None) -> str:
    """The session id for a learner's attempt at an activity, the same on every run and machine."""
    parts = [activity_id, user_id] if attempt is None else [activity_id, user_id, attempt]
    return str(uuid.uuid5(SESSION_NAMESPACE, NAME_SEPARATOR.join(parts)))


def is_session_id(value: str) -> bool:
    """A given session id must be a UUID in its canonical 8-4-4-4-12 text form."""
    return _SESSION_ID.fullmatch(value) is not None
