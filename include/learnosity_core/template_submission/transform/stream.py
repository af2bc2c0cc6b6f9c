"""Transform rows chunk by chunk, never splitting a learner's sessions, so memory stays bounded."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import numpy.typing as npt
import pandas as pd

from learnosity_core.template_submission.transform.columns import codes, combine, text_column
from learnosity_core.template_submission.transform.frame import (
    SessionIdClaims,
    TransformResult,
    transform_frame,
)
from learnosity_core.template_submission.transform.index import TemplateIndex


class UnorderedInputError(ValueError):
    """A learner's rows for an activity are not contiguous, so a session could be split or sent twice."""


def _learners(frame: pd.DataFrame) -> npt.NDArray[np.int64]:
    """A code per (activity_id, user_id) as the database orders them ('' and NULL apart)."""
    return combine(codes(text_column(frame["activity_id"])), codes(text_column(frame["user_id"])))


def _check_contiguous(frame: pd.DataFrame, learner: npt.NDArray[np.int64]) -> None:
    changes = np.flatnonzero(learner[1:] != learner[:-1])
    if len(changes) + 1 != int(learner.max()) + 1:
        seen: set[int] = set()
        for start in np.concatenate(([0], changes + 1)).tolist():
            if learner[start] in seen:
                row = frame.iloc[start]
                raise UnorderedInputError(
                    f"rows must be ordered by activity_id, user_id: activity {row['activity_id']!r}, user"
                    f" {row['user_id']!r} appears again after other learners"
                )
            seen.add(int(learner[start]))


def transform_chunks(
    chunks: Iterable[pd.DataFrame], index: TemplateIndex, claims: SessionIdClaims | None = None
) -> Iterator[TransformResult]:
    """Results chunk by chunk for input ordered by activity_id, user_id.

    The last learner of a chunk may continue in the next one, so their rows are carried over
    and transformed with the next chunk. Without a `row_id` column, rows are numbered 1, 2, ...
    across all chunks in input order. The sessions equal those of `transform_responses` on the
    whole input. Each result's `warnings` count the responses of that result's sessions, so the
    run's counts are their sum. Memory holds one chunk plus the carried learner, the given session
    ids seen so far (to catch one id used by two learners) and a bounded memo of distinct answers'
    verdicts. `claims` may know owners from earlier runs (`SessionIdClaims`).
    """
    claims = claims or SessionIdClaims()
    carry: pd.DataFrame | None = None
    next_row_id = 1
    for chunk in chunks:
        if chunk.empty:
            continue
        if "row_id" not in chunk.columns:
            chunk = chunk.assign(row_id=np.arange(next_row_id, next_row_id + len(chunk), dtype=np.int64))
        next_row_id += len(chunk)
        frame = chunk if carry is None else pd.concat([carry, chunk], ignore_index=True)
        learner = _learners(frame)
        _check_contiguous(frame, learner)
        trailing = int(np.flatnonzero(learner != learner[-1]).max(initial=-1)) + 1
        carry = frame.iloc[trailing:]
        if trailing:
            yield transform_frame(frame.iloc[:trailing], index, claims)
    if carry is not None:
        yield transform_frame(carry, index, claims)
