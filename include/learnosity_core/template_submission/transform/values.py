"""Response objects for rows whose question is known, built a question type at a time.

The encoded-text types are built column-wise with `text`, and flagged `over_max_length` where
their count passes the question's `max_length`. Gridded entries are matched column-wise against
their grid's pattern and width. Every other type (the array types), and every gridded entry that
does not fit, is decided once per distinct (question, response, response_boxes) by
`responses.check_response` itself: OMR answers repeat, so that is a few thousand calls per million
rows, and those types follow the canonical rules by construction. Either way the result is the
compact JSON of each response object (a "fragment") or a reason and detail for the quarantine.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from learnosity_core.content.gridded import GridSettings, entry_pattern
from learnosity_core.content.question_types import (
    CHARACTER_COUNT_TYPES,
    ENCODED_TEXT_TYPES,
    RESPONSE_KIND,
    WORD_COUNT_TYPES,
)
from learnosity_core.content.questions import TemplateQuestion
from learnosity_core.content.responses import (
    INVALID_VALUE,
    MISSING_RESPONSES,
    OVER_MAX_LENGTH,
    check_response,
)
from learnosity_core.template_submission.transform import text
from learnosity_core.template_submission.transform.columns import codes, combine, concat, valid
from learnosity_core.template_submission.transform.index import QUESTION_TYPES, TemplateIndex

_CLOZEFORMULA = QUESTION_TYPES.index("clozeformula")
_GRIDDED = QUESTION_TYPES.index("gridded")
_TEXT_TYPE_CODES = {QUESTION_TYPES.index(t): t for t in ENCODED_TEXT_TYPES}

Problem = tuple[str, str]  # (reason code, "field: what is wrong")
_MAX_DECISIONS = 200_000  # remembered verdicts per run: enough for every option answer, bounded memory


@dataclass
class Built:
    """Fragments and problems for a set of rows, by their positions in the arrays given."""

    positions: list[npt.NDArray[np.int64]] = field(default_factory=list)
    fragments: list[pa.Array] = field(default_factory=list)
    problem_positions: list[int] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[tuple[npt.NDArray[np.int64], str]] = field(default_factory=list)  # (positions, code)

    def add(self, positions: npt.NDArray[np.int64], fragments: pa.Array) -> None:
        if len(positions):
            self.positions.append(positions)
            self.fragments.append(fragments.cast(pa.large_string()))

    def fail(self, positions: npt.NDArray[np.int64], problem: Problem) -> None:
        self.problem_positions.extend(int(p) for p in positions)
        self.problems.extend([problem] * len(positions))

    def warn(self, positions: npt.NDArray[np.int64], code: str) -> None:
        """Built rows that are sent as written but counted under a warning code."""
        if len(positions):
            self.warnings.append((positions, code))


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def decide(question: TemplateQuestion, response: str, boxes: str | None) -> tuple[str | None, Problem | None]:
    """One attempted response of a non-text type: its fragment, or why it cannot be sent."""
    value: Any = response
    if RESPONSE_KIND[question.type] == "array":
        try:
            value = json.loads(response)
        except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
            return None, (INVALID_VALUE, f"response: {response[:80]!r} is not JSON ({exc})")
    obj: dict[str, Any] = {"question_id": question.id, "type": RESPONSE_KIND[question.type], "value": value}
    if value is None and boxes is not None:
        return None, (INVALID_VALUE, "response_boxes: given, but the response is JSON null (unattempted)")
    if boxes is not None and value is not None:
        try:
            obj["responses"] = value if boxes == response else json.loads(boxes)  # often the same text
        except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
            return None, (INVALID_VALUE, f"response_boxes: {boxes[:80]!r} is not JSON ({exc})")
    problem = check_response({question.id: question}, obj)
    if problem is not None:
        where = "response_boxes" if problem.code == MISSING_RESPONSES else "response"
        return None, (problem.code, f"{where}: {problem.message}")
    try:
        fragment = _dumps(obj)
        fragment.encode("utf-8")
    except (ValueError, UnicodeEncodeError):  # a lone surrogate from a JSON \\ud800 escape, say
        return None, (INVALID_VALUE, "response: cannot be sent as JSON (text that is not valid Unicode)")
    return fragment, None


def _text_type(
    built: Built,
    index: TemplateIndex,
    rows: npt.NDArray[np.int64],
    quid: npt.NDArray[np.int64],
    raw: pa.Array,
    question_type: str,
) -> None:
    """Encoded text and its count, column-wise, for the rows of one encoded-text type."""
    encoded = text.encode(raw)
    if question_type in CHARACTER_COUNT_TYPES or question_type in WORD_COUNT_TYPES:
        characters = question_type in CHARACTER_COUNT_TYPES
        counts = text.character_counts(raw) if characters else text.word_counts(raw, question_type)
        name = "characterCount" if characters else "wordCount"
        tail = concat(f'","{name}":', pa.array(counts).cast(pa.large_string()), "}")
        built.warn(rows[counts > index.max_length[quid]], OVER_MAX_LENGTH)
    else:
        tail = pa.array(['"}'] * len(raw), type=pa.large_string())
    built.add(rows, concat(index.prefix.take(quid), '"', encoded, tail))


def _settle(
    built: Built,
    rows: npt.NDArray[np.int64],
    per_row: pa.Array,
    problems: list[Problem | None],
    key: npt.NDArray[np.int64],
) -> None:
    """Rows with a fragment are built; the others fail with the problem of their distinct value."""
    ok = valid(per_row)
    built.add(rows[ok], per_row.filter(pa.array(ok)))
    for position, k in zip(rows[~ok].tolist(), key[~ok].tolist(), strict=True):
        problem = problems[k]
        assert problem is not None
        built.problem_positions.append(position)
        built.problems.append(problem)


def _fits_grid(raw: pa.Array, grid: GridSettings) -> npt.NDArray[np.bool_]:
    """Entries the grid surely holds: RE2 reads `entry_pattern` as `re` does, and the width is
    `entry_width` (on matching entries, which are ASCII, characters are bytes)."""
    fits = pc.fill_null(pc.match_substring_regex(raw, entry_pattern(grid)), False)
    if grid.columns is not None:
        signed = pc.match_substring_regex(raw, "^[+-]")
        width = pc.subtract(pc.binary_length(raw), pc.cast(signed, pa.int64()))
        fits = pc.and_(fits, pc.fill_null(pc.less_equal(width, grid.columns), False))
    result: npt.NDArray[np.bool_] = fits.to_numpy(zero_copy_only=False)
    return result


def _gridded(
    built: Built,
    index: TemplateIndex,
    rows: npt.NDArray[np.int64],
    quid: npt.NDArray[np.int64],
    raw: pa.Array,
) -> None:
    """Gridded entries a grid at a time: those that surely fit are sent as entered, and
    `check_response` decides every distinct other one."""
    grid_code = index.grid_code[quid]
    for code in np.unique(grid_code).tolist():
        mine = np.flatnonzero(grid_code == code)
        entries = raw.take(mine)
        fits = _fits_grid(entries, index.grids[code])
        surely = mine[fits]
        built.add(rows[surely], concat(index.prefix.take(quid[surely]), '"', raw.take(surely), '"}'))
        unsure = mine[~fits]
        if len(unsure):
            values = pc.dictionary_encode(raw.take(unsure))
            distinct = values.dictionary.to_pylist()
            question = {"": TemplateQuestion(id="", type="gridded", grid=index.grids[code])}
            checked = [
                check_response(question, {"question_id": "", "type": "string", "value": v}) for v in distinct
            ]
            literal = [_dumps(v) + "}" if p is None else None for v, p in zip(distinct, checked, strict=True)]
            key = values.indices.to_numpy(zero_copy_only=False).astype(np.int64)
            per_row = concat(index.prefix.take(quid[unsure]), pa.array(literal, pa.large_string()).take(key))
            problems = [None if p is None else (p.code, f"response: {p.message}") for p in checked]
            _settle(built, rows[unsure], per_row, problems, key)


def build_responses(
    index: TemplateIndex,
    quid: npt.NDArray[np.int64],
    at: npt.NDArray[np.int64],
    response: pa.Array,
    boxes: pa.Array | None,
) -> Built:
    """Response fragments, or problems, for rows with known questions (`quid`) found `at` these
    positions of the frame's `response` and `boxes` columns; `Built` positions index `quid`."""
    built = Built()
    type_code = index.type_code[quid]
    attempted = valid(response)[at]
    has_boxes = valid(boxes)[at] if boxes is not None else np.zeros(len(quid), dtype=np.bool_)
    stray = has_boxes & (type_code != _CLOZEFORMULA)
    built.fail(
        np.flatnonzero(stray), (INVALID_VALUE, "response_boxes: only clozeformula takes response boxes")
    )
    unattempted_boxes = has_boxes & ~attempted & ~stray
    built.fail(
        np.flatnonzero(unattempted_boxes),
        (INVALID_VALUE, "response_boxes: given, but the response is NULL (unattempted)"),
    )
    fine = ~(stray | unattempted_boxes)

    blank = np.flatnonzero(fine & ~attempted)
    built.add(blank, concat(index.prefix.take(quid[blank]), "null}"))

    rest = fine & attempted
    for code, question_type in _TEXT_TYPE_CODES.items():
        rows = np.flatnonzero(rest & (type_code == code))
        if len(rows):
            _text_type(built, index, rows, quid[rows], response.take(at[rows]), question_type)

    gridded = np.flatnonzero(rest & (type_code == _GRIDDED))
    if len(gridded):
        _gridded(built, index, gridded, quid[gridded], response.take(at[gridded]))

    others = np.flatnonzero(rest & ~np.isin(type_code, [*_TEXT_TYPE_CODES, _GRIDDED]))
    if len(others):
        raw = response.take(at[others])
        raw_boxes = boxes.take(at[others]) if boxes is not None else pa.nulls(len(others), pa.large_string())
        key = combine(quid[others], codes(raw), codes(raw_boxes))  # dense, numbered by first appearance
        first = np.unique(key, return_index=True)[1]
        if len(index.decisions) > _MAX_DECISIONS:
            index.decisions.clear()
        decisions = []
        for q, response_text, boxes_text in zip(
            quid[others[first]].tolist(),
            raw.take(first).to_pylist(),
            raw_boxes.take(first).to_pylist(),
            strict=True,
        ):
            known = index.decisions.get((q, response_text, boxes_text))
            if known is None:
                known = index.decisions[q, response_text, boxes_text] = decide(
                    index.questions[q], response_text, boxes_text
                )
            decisions.append(known)
        per_row = pa.array([fragment for fragment, _ in decisions], type=pa.large_string()).take(key)
        _settle(built, others, per_row, [problem for _, problem in decisions], key)
    return built
