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

REASONS: Final[dict[str, str]] = {
    INVALID_ENCODING: "a text value was not valid UTF-8 in the warehouse (its bytes are lost)",
    MISSING_FIELD: "user_id, activity_id or question_id is empty or blank",
    INVALID_SESSION_ID: "session_id is given but is not a UUID",
    INVALID_TIMESTAMP: "updated_at or loaded_at is given but is not a timestamp",
    UNKNOWN_ACTIVITY: "the activity has no template",
    UNKNOWN_QUESTION: "the question is not in the activity's template",
    TYPE_CONFLICT: "question_type disagrees with the template",
    INVALID_VALUE: "the response (or response_boxes) breaks the question type's rules",
    MISSING_RESPONSES: "a clozeformula response lacks valid response_boxes",
    DUPLICATE_CONFLICT: "rows for the same session and question share the latest updated_at but differ",
    SESSION_ID_CONFLICT: "the session_id already belongs to another learner or activity",
    SESSION_HELD_BACK: "the row is fine, but another row of its session is quarantined",
}

WARNINGS: Final[dict[str, str]] = {
    OVER_MAX_LENGTH: "the answer is longer than the question's max_length (characters or words), sent as is",
}
