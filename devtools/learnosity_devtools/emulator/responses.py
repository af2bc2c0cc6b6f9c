"""One `from_template` response object, checked against its question by the Template Submission page.

The page fixes, per question type: the `type` field ("array" or "string"), the shape of `value`,
`characterCount` for shorttext, `wordCount` for longtext, longtextV2 and plaintext, and
`responses` for clozeformula. `value: null` records an unattempted question and needs nothing
more. Entries are held to what the question object says (`questions.Question`); where it says
nothing, any entry of the documented shape passes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from typing import Any, Final, Literal

from learnosity_devtools.emulator.codes import (
    COUNT_MISMATCH,
    INVALID_VALUE,
    MISSING_RESPONSES,
    NOT_ENCODED,
    UNKNOWN_QUESTION,
    WRONG_KIND,
    Rejected,
)
from learnosity_devtools.emulator.questions import Question
from learnosity_devtools.emulator.text import character_counts, url_decoded, word_counts

KIND: Final[dict[str, Literal["array", "string"]]] = {
    "association": "array",
    "choicematrix": "array",
    "clozeformula": "array",
    "clozeinlinetext": "array",
    "clozetext": "array",
    "mcq": "array",
    "orderlist": "array",
    "formulaV2": "string",
    "gridded": "string",
    "longtext": "string",
    "longtextV2": "string",
    "plaintext": "string",
    "shorttext": "string",
}
# Text types and the count each needs ("URL-encoded", "Use + instead of spaces").
_TEXT_COUNT: Final[dict[str, str | None]] = {
    "formulaV2": None,
    "longtext": "wordCount",
    "longtextV2": "wordCount",
    "plaintext": "wordCount",
    "shorttext": "characterCount",
}
_RICH_TEXT: Final = frozenset({"longtext", "longtextV2"})
# "the number entered, including . as the decimal point"; a sign column or fraction slash may add to it.
_NUMBER: Final = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)")
_FRACTION: Final = re.compile(r"[+-]?[0-9]+/[0-9]+")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _strings_value(q: Question, value: Any) -> str | None:
    """mcq: one or more of the options. association, clozetext, clozeinlinetext: one string per
    position, null for a position left empty."""
    positional = q.type != "mcq"
    if not isinstance(value, list) or not value:
        return "must be an array of one or more strings"
    if not all(isinstance(v, str) or (positional and v is None) for v in value):
        return "entries must be strings or null" if positional else "entries must be strings"
    if positional and q.positions is not None and len(value) != q.positions:
        return f"needs {q.positions} entries, one per position, got {len(value)}"
    if q.choices is not None:
        outside = [v for v in value if v is not None and v not in q.choices]
        if outside:
            return f"{outside[0]!r} is not one of the question's options"
    return None


def _choicematrix_value(q: Question, value: Any) -> str | None:
    """One entry per stem: an array of one or more option indices (null for a stem left blank)."""
    if not isinstance(value, list) or not value:
        return "must be an array with an entry per stem"
    if q.positions is not None and len(value) != q.positions:
        return f"needs {q.positions} entries, one per stem, got {len(value)}"
    for row in value:
        if row is None:
            continue
        if not isinstance(row, list) or not row:
            return "each stem's entry must be an array of one or more option indices, or null"
        for index in row:
            if not _is_int(index) or index < 0 or (q.option_count is not None and index >= q.option_count):
                return f"{index!r} is not an option index"
    return None


def _orderlist_value(q: Question, value: Any) -> str | None:
    """Each list position once, in the list's original order."""
    if not isinstance(value, list) or not value or not all(_is_int(v) for v in value):
        return "must be an array of one or more integers"
    size = q.positions if q.positions is not None else len(value)
    if sorted(value) != list(range(size)):
        return f"must hold each position 0-{size - 1} exactly once"
    return None


def _is_formula_rows(value: Any, *, filled: bool) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(
            isinstance(row, list) and (bool(row) or not filled) and all(isinstance(f, str) for f in row)
            for row in value
        )
    )


def _clozeformula_value(q: Question, value: Any) -> str | None:
    if not _is_formula_rows(value, filled=True):
        return "must be an array of arrays of one or more formulas (strings)"
    return None


def _gridded_value(q: Question, value: Any) -> str | None:
    if not isinstance(value, str):
        return "must be a string"
    if _NUMBER.fullmatch(value) or (q.fractions and _FRACTION.fullmatch(value)):
        return None
    return f"{value!r} is not a number entered with '.' as the decimal point"


_VALUE_RULES: Final[dict[str, Callable[[Question, Any], str | None]]] = {
    "association": _strings_value,
    "choicematrix": _choicematrix_value,
    "clozeformula": _clozeformula_value,
    "clozeinlinetext": _strings_value,
    "clozetext": _strings_value,
    "gridded": _gridded_value,
    "mcq": _strings_value,
    "orderlist": _orderlist_value,
}


def _shown(counts: Collection[int]) -> str:
    low, high = min(counts), max(counts)
    if low == high:
        return str(low)
    return f"{low} or {high}" if len(counts) == 2 else f"from {low} to {high}"


def _check_text(q: Question, response: Mapping[str, Any]) -> None:
    value = response["value"]
    if not isinstance(value, str):
        raise Rejected(INVALID_VALUE, f"{q.type} value must be a string")
    text = url_decoded(value)
    if text is None:
        raise Rejected(NOT_ENCODED, "value is not URL-encoded with '+' for spaces")
    field = _TEXT_COUNT[q.type]
    if field is None:
        return
    expected = (
        character_counts(text) if field == "characterCount" else word_counts(text, rich=q.type in _RICH_TEXT)
    )
    sent = response.get(field)
    if not _is_int(sent) or sent not in expected:
        raise Rejected(COUNT_MISMATCH, f"{field} must be {_shown(expected)}, got {sent!r}")


def _check_boxes(q: Question, boxes: Any) -> None:
    """clozeformula's `responses`: per response box, the entries the learner typed."""
    if not _is_formula_rows(boxes, filled=False):
        raise Rejected(MISSING_RESPONSES, "clozeformula needs responses: an array of arrays of strings")
    if q.positions is not None and len(boxes) != q.positions:
        raise Rejected(
            MISSING_RESPONSES, f"clozeformula needs {q.positions} response boxes, got {len(boxes)}"
        )


def check_response(questions: Mapping[str, Question], response: Mapping[str, Any]) -> Question:
    """The question a response object answers, or `Rejected` with the first rule it breaks."""
    question_id = response.get("question_id")
    q = questions.get(question_id) if isinstance(question_id, str) else None
    if q is None:
        raise Rejected(UNKNOWN_QUESTION, f"question_id {question_id!r} is not in the template")
    if response.get("type") != KIND[q.type]:
        raise Rejected(WRONG_KIND, f"{q.type} needs type {KIND[q.type]!r}, got {response.get('type')!r}")
    if "value" not in response:
        raise Rejected(INVALID_VALUE, "value is missing (null records an unattempted question)")
    if response["value"] is None:
        return q
    if q.type in _TEXT_COUNT:
        _check_text(q, response)
        return q
    reason = _VALUE_RULES[q.type](q, response["value"])
    if reason is not None:
        raise Rejected(INVALID_VALUE, f"{q.type} value {reason}")
    if q.type == "clozeformula":
        _check_boxes(q, response.get("responses"))
    return q
