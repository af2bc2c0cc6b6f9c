"""Whose session an entry is: the three identity fields both data formats carry.

The Template Submission page types them as strings, `session_id` as "string (uuid)". A blank
string names nobody, and a UUID is taken in its written 8-4-4-4-12 hex form only (no braces,
`urn:` prefix or trailing newline), since that is the form sessions are later looked up by.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from learnosity_devtools.emulator.codes import INVALID_SESSION_ID, MISSING_IDENTITY, Rejected

IDENTITY_FIELDS: Final = ("session_id", "user_id", "activity_id")
_UUID: Final = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")


def check_identity(entry: Mapping[str, Any]) -> None:
    """Raise `Rejected` unless the entry names a user, an activity and a UUID session."""
    blank = [f for f in IDENTITY_FIELDS if not (isinstance(entry.get(f), str) and entry[f].strip())]
    if blank:
        raise Rejected(MISSING_IDENTITY, f"needs a non-empty string for {', '.join(blank)}")
    if _UUID.fullmatch(entry["session_id"]) is None:
        raise Rejected(INVALID_SESSION_ID, f"session_id {entry['session_id']!r} is not a UUID")
