"""Why a row is in the quarantine, or why a sent row is counted as a warning: one code per rule.

The emulator answers with the same reason codes. A warning never holds a row back.
"""

from __future__ import annotations

from typing import Final

from learnosity_core.content.responses import (
    INVALID_VALUE,
    MISSING_RESPONSES,
    OVER_MAX_LENGTH,
    UNKNOWN_QUESTION,
)

INVALID_ENCODING: Final = "invalid_encoding"
MISSING_FIELD: Final = "missing_field"
INVALID_SESSION_ID: Final = "invalid_session_id"
INVALID_TIMESTAMP: Final = "invalid_timestamp"
UNKNOWN_ACTIVITY: Final = "unknown_activity"
TYPE_CONFLICT: Final = "type_conflict"
DUPLICATE_CONFLICT: Final = "duplicate_conflict"
SESSION_ID_CONFLICT: Final = "session_id_conflict"
SESSION_HELD_BACK: Final = "session_held_back"

# What each code means and what to do about it is in `reporting.reasons`, beside the others.
REASONS: Final[frozenset[str]] = frozenset(
    {
        INVALID_ENCODING,
        MISSING_FIELD,
        INVALID_SESSION_ID,
        INVALID_TIMESTAMP,
        UNKNOWN_ACTIVITY,
        UNKNOWN_QUESTION,
        TYPE_CONFLICT,
        INVALID_VALUE,
        MISSING_RESPONSES,
        DUPLICATE_CONFLICT,
        SESSION_ID_CONFLICT,
        SESSION_HELD_BACK,
    }
)

WARNINGS: Final[frozenset[str]] = frozenset({OVER_MAX_LENGTH})
