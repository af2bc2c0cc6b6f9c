"""The canonical rules for one `from_template` response object, checked against its question.

The vectorised transform implements the same rules for speed and is tested against this module
as its oracle; the emulator checks what it receives by its own rules, and a test compares both.
A problem keeps the response from being sent; a warning does not (a paper answer is what the
learner wrote), it is only counted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from pydantic import BaseModel

from learnosity_core.content.gridded import entry_problem
from learnosity_core.content.question_types import (
    CHARACTER_COUNT_TYPES,
    RESPONSE_KIND,
    STRING_CHOICE_TYPES,
    WORD_COUNT_TYPES,
    count_characters,
    count_words,
    decode_text,
    encode_text,
)
from learnosity_core.content.questions import TemplateQuestion

# Reason codes of the transform's quarantine (the emulator answers with the same codes).
UNKNOWN_QUESTION: Final = "unknown_question"
WRONG_KIND: Final = "wrong_kind"
INVALID_VALUE: Final = "invalid_value"
NOT_ENCODED: Final = "not_encoded"
COUNT_MISMATCH: Final = "count_mismatch"
MISSING_RESPONSES: Final = "missing_responses"
# Warning codes: the response is sent as written.
OVER_MAX_LENGTH: Final = "over_max_length"


class ResponseProblem(BaseModel):
    """Why a response object cannot be stored: a reason code and a readable message."""

    code: str
    message: str


def _problem(code: str, message: str) -> ResponseProblem:
    return ResponseProblem(code=code, message=message)


def _is_str_matrix(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(row, list) and all(isinstance(v, str) for v in row) for row in value
    )


def _check_choices(q: TemplateQuestion, value: list[Any]) -> str | None:
    """mcq: one or more of the options (one unless multiple_responses). association, clozetext,
    clozeinlinetext: one string per slot, null for a slot left empty."""
    if not value:
        return "needs at least one entry"
    if q.type == "mcq":
        if not all(isinstance(v, str) for v in value):
            return "entries must be strings"
        if not q.multiple_responses and len(value) != 1:
            return f"takes one option (multiple_responses is false), got {len(value)}"
    elif not all(v is None or isinstance(v, str) for v in value):
        return "entries must be strings or null"
    if q.slot_count is not None and len(value) != q.slot_count:
        return f"needs {q.slot_count} entries, got {len(value)}"
    if q.allowed_values is not None:
        bad = [v for v in value if v is not None and v not in q.allowed_values]
        if bad:
            return f"{bad[0]!r} is not one of the question's options"
    return None


def _check_choicematrix(q: TemplateQuestion, value: list[Any]) -> str | None:
    """One entry per stem: option indices (one unless multiple_responses), or null."""
    if q.slot_count is not None and len(value) != q.slot_count:
        return f"needs one entry per stem ({q.slot_count}), got {len(value)}"
    for stem, entry in enumerate(value):
        if entry is None:
            continue
        if not isinstance(entry, list) or not entry:
            return "each stem's entry must be a non-empty array of option indices or null"
        for index in entry:
            if not isinstance(index, int) or isinstance(index, bool) or index < 0:
                return f"{index!r} is not an option index"
            if q.option_count is not None and index >= q.option_count:
                return f"option index {index} is out of range (0-{q.option_count - 1})"
        if not q.multiple_responses and len(entry) != 1:
            return f"stem {stem} takes one option (multiple_responses is false), got {len(entry)}"
    return None


def _check_array_value(q: TemplateQuestion, value: list[Any]) -> str | None:
    """The reason an array value breaks the question's rules, or None."""
    if q.type in STRING_CHOICE_TYPES:
        return _check_choices(q, value)
    if q.type == "choicematrix":
        return _check_choicematrix(q, value)
    if q.type == "orderlist":
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return "entries must be integers"
        expected = q.list_length if q.list_length is not None else len(value)
        if sorted(value) != list(range(expected)):
            return f"must be a permutation of 0..{expected - 1}"
        return None
    if q.type == "clozeformula":
        if not value or not _is_str_matrix(value):
            return "must be a non-empty array of arrays of strings"
        return None
    return f"{q.type} does not take an array"  # pragma: no cover - kinds are exhaustive


def _check_string(q: TemplateQuestion, response: Mapping[str, Any]) -> ResponseProblem | None:
    value = response["value"]
    if not isinstance(value, str):
        return _problem(INVALID_VALUE, f"{q.type} value must be a string")
    if q.type == "gridded":
        reason = entry_problem(q.grid, value)
        return None if reason is None else _problem(INVALID_VALUE, reason)
    raw = decode_text(value)
    if encode_text(raw) != value:
        return _problem(NOT_ENCODED, "value is not URL-encoded with '+' for spaces")
    if q.type in CHARACTER_COUNT_TYPES and response.get("characterCount") != count_characters(raw):
        return _problem(
            COUNT_MISMATCH,
            f"characterCount must be {count_characters(raw)}, got {response.get('characterCount')!r}",
        )
    if q.type in WORD_COUNT_TYPES and response.get("wordCount") != count_words(raw, q.type):
        return _problem(
            COUNT_MISMATCH,
            f"wordCount must be {count_words(raw, q.type)}, got {response.get('wordCount')!r}",
        )
    return None


def check_response(
    questions: Mapping[str, TemplateQuestion], response: Mapping[str, Any]
) -> ResponseProblem | None:
    """The first problem with a response object, or None when it may be stored."""
    qid = response.get("question_id")
    q = questions.get(qid) if isinstance(qid, str) else None
    if q is None:
        return _problem(UNKNOWN_QUESTION, f"question_id {qid!r} is not in the template")
    kind = RESPONSE_KIND[q.type]
    if response.get("type") != kind:
        return _problem(WRONG_KIND, f"{q.type} needs type {kind!r}, got {response.get('type')!r}")
    if "value" not in response:
        return _problem(INVALID_VALUE, "value is missing (use null for unattempted)")
    value = response["value"]
    if value is None:
        return None
    if kind == "string":
        return _check_string(q, response)
    if not isinstance(value, list):
        return _problem(INVALID_VALUE, f"{q.type} value must be an array")
    reason = _check_array_value(q, value)
    if reason:
        return _problem(INVALID_VALUE, f"{q.type} value {reason}")
    if q.type == "clozeformula":
        boxes = response.get("responses")
        if not isinstance(boxes, list) or not boxes or not _is_str_matrix(boxes):
            return _problem(MISSING_RESPONSES, "clozeformula needs responses: array of arrays of strings")
        if q.slot_count is not None and len(boxes) != q.slot_count:
            return _problem(
                MISSING_RESPONSES, f"clozeformula needs {q.slot_count} response boxes, got {len(boxes)}"
            )
    return None


def _text_length(q: TemplateQuestion, raw: str) -> int:
    """The length `max_length` bounds: characters for shorttext, words for the other text types."""
    return count_characters(raw) if q.type in CHARACTER_COUNT_TYPES else count_words(raw, q.type)


def response_warnings(q: TemplateQuestion, response: Mapping[str, Any]) -> list[str]:
    """Warning codes of a response that may be sent (check_response found no problem)."""
    value = response.get("value")
    if q.max_length is None or not isinstance(value, str):
        return []
    return [OVER_MAX_LENGTH] if _text_length(q, decode_text(value)) > q.max_length else []
