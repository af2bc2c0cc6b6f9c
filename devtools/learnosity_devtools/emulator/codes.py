"""The reason codes a job lists for each entry it did not store, and the exception carrying one.

Learnosity does not publish what a `SET /sessions` job reports per session (the reference notes,
section 2, list it as a gap), so these codes are the emulator's own. They are stable because
tests and the client's reconciliation match on them.
"""

from __future__ import annotations

from typing import Final

# Who the session belongs to (both data formats).
MISSING_IDENTITY: Final = "missing_identity"
INVALID_SESSION_ID: Final = "invalid_session_id"
# A `from_template` entry and its response objects.
MISSING_RESPONSES: Final = "missing_responses"
INVALID_RESPONSE: Final = "invalid_response"
DUPLICATE_QUESTION: Final = "duplicate_question"
UNKNOWN_QUESTION: Final = "unknown_question"
WRONG_KIND: Final = "wrong_kind"
INVALID_VALUE: Final = "invalid_value"
NOT_ENCODED: Final = "not_encoded"
COUNT_MISMATCH: Final = "count_mismatch"
# A failed-submission blob.
EMPTY: Final = "empty"
NOT_BASE64: Final = "not_base64"
NOT_UTF8: Final = "not_utf8"
NOT_JSON: Final = "not_json"
NOT_OBJECT: Final = "not_object"
# Across entries and requests.
DUPLICATE_SESSION: Final = "duplicate_session"
SESSION_CONFLICT: Final = "session_conflict"


class Rejected(Exception):
    """Why one entry cannot be stored: the code and message its job error shows."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
