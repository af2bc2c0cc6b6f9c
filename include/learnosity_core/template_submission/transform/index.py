"""Each activity's template questions, flattened so whole columns of rows find their question at once."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from learnosity_core.content.gridded import GridSettings
from learnosity_core.content.question_types import RESPONSE_KIND, SUPPORTED_TYPES
from learnosity_core.content.questions import TemplateQuestion, find_questions

# Question types by number: `TemplateIndex.type_code` holds positions in this tuple.
QUESTION_TYPES: Final[tuple[str, ...]] = tuple(sorted(SUPPORTED_TYPES))
NO_MAX_LENGTH: Final = np.iinfo(np.int64).max  # `TemplateIndex.max_length` of a question without one


def _ints(array: pa.Array) -> npt.NDArray[np.int64]:
    values: npt.NDArray[np.int64] = (
        pc.fill_null(array, -1).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    )
    return values


class TemplateIndex:
    """The questions of every activity's template; a question is numbered by its place here (its quid).

    Question order within an activity is the template's own order (what `find_questions` walks),
    which is also the order responses take in a session entry.
    """

    def __init__(self, templates: Mapping[str, Mapping[str, Any]]) -> None:
        self._questions = {activity_id: find_questions(t) for activity_id, t in templates.items()}
        activity_ids = list(self._questions)
        question_ids = sorted({qid for questions in self._questions.values() for qid in questions})
        qid_number = {qid: n for n, qid in enumerate(question_ids)}
        self._activity_set = pa.array(activity_ids, type=pa.large_string())
        self._question_set = pa.array(question_ids, type=pa.large_string())

        self.questions: list[TemplateQuestion] = []
        positions: list[int] = []
        keys: list[int] = []
        for activity_number, questions in enumerate(self._questions.values()):
            for position, (qid, question) in enumerate(questions.items()):
                self.questions.append(question)
                positions.append(position)
                keys.append(activity_number * len(question_ids) + qid_number[qid])
        key_array = np.array(keys, dtype=np.int64)
        self._key_order = np.argsort(key_array)
        self._sorted_keys = key_array[self._key_order]
        self.position: npt.NDArray[np.int64] = np.array(positions, dtype=np.int64)
        self.type_code: npt.NDArray[np.int64] = np.array(
            [QUESTION_TYPES.index(q.type) for q in self.questions], dtype=np.int64
        )
        # `{"question_id":…,"type":…,"value":` for every question: column-built responses start with it.
        self.prefix = pa.array(
            [
                '{"question_id":'
                + json.dumps(q.id, ensure_ascii=False)
                + f',"type":"{RESPONSE_KIND[q.type]}"'
                ',"value":'
                for q in self.questions
            ],
            type=pa.large_string(),
        )
        self.types = pa.array([q.type for q in self.questions], type=pa.large_string())
        self.max_length: npt.NDArray[np.int64] = np.array(
            [NO_MAX_LENGTH if q.max_length is None else q.max_length for q in self.questions], dtype=np.int64
        )
        # The distinct grids of gridded questions, and each question's place in that list (-1: not gridded).
        self.grids: list[GridSettings] = list(
            dict.fromkeys(q.grid for q in self.questions if q.type == "gridded")
        )
        self.grid_code: npt.NDArray[np.int64] = np.array(
            [self.grids.index(q.grid) if q.type == "gridded" else -1 for q in self.questions], dtype=np.int64
        )
        # Verdicts on distinct (quid, response, response_boxes) values, kept for the life of the
        # index (one run) because answers repeat across chunks; `values` bounds its size.
        self.decisions: dict[tuple[int, str, str | None], tuple[str | None, tuple[str, str] | None]] = {}

    def __contains__(self, activity_id: object) -> bool:
        return activity_id in self._questions

    @property
    def activity_ids(self) -> list[str]:
        return list(self._questions)

    def activity_questions(self, activity_id: str) -> dict[str, TemplateQuestion]:
        return self._questions[activity_id]

    def locate(
        self, activity_ids: pa.Array, question_ids: pa.Array
    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64]]:
        """For every row: is its activity known, and its question's quid (-1 when not in the template)."""
        activity = _ints(pc.index_in(activity_ids, value_set=self._activity_set))
        question = _ints(pc.index_in(question_ids, value_set=self._question_set))
        quid = np.full(len(activity), -1, dtype=np.int64)
        both = (activity >= 0) & (question >= 0)
        if len(self._sorted_keys) and both.any():
            keys = activity[both] * len(self._question_set) + question[both]
            slot = np.minimum(np.searchsorted(self._sorted_keys, keys), len(self._sorted_keys) - 1)
            found = self._sorted_keys[slot] == keys
            quid[np.flatnonzero(both)[found]] = self._key_order[slot[found]]
        return activity >= 0, quid
