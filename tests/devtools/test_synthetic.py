"""The synthetic warehouse is realistic enough to benchmark on and exercises every quarantine path."""

from __future__ import annotations

import pandas as pd

from learnosity_core.content.question_types import SUPPORTED_TYPES
from learnosity_core.content.questions import find_questions
from learnosity_core.template_submission.transform import REASONS, TemplateIndex, transform_chunks
from learnosity_devtools.synthetic import synthetic_frame, synthetic_rows, synthetic_templates


def test_templates_cover_every_type() -> None:
    for template in synthetic_templates(3).values():
        assert {q.type for q in find_questions(template).values()} == SUPPORTED_TYPES


def test_rows_come_in_exact_ordered_chunks_and_repeat_with_the_seed() -> None:
    templates = synthetic_templates(2)
    chunks = list(synthetic_rows(templates, 2_345, chunk_rows=1_000))
    assert [len(c) for c in chunks] == [1_000, 1_000, 345]
    frame = pd.concat(chunks, ignore_index=True)
    keys = list(zip(frame["activity_id"], frame["user_id"], strict=True))
    assert keys == sorted(keys)
    pd.testing.assert_frame_equal(frame, synthetic_frame(templates, 2_345))


def test_transforming_it_sends_clean_sessions_and_quarantines_every_planted_kind() -> None:
    templates = synthetic_templates(2)
    chunks = list(synthetic_rows(templates, 6_000, chunk_rows=1_500, invalid_rate=0.1, duplicate_rate=0.02))
    results = list(transform_chunks(chunks, TemplateIndex(templates)))
    sessions = pd.concat([r.sessions for r in results])
    quarantine = pd.concat([r.quarantine for r in results])
    assert sessions["row_count"].sum() + len(quarantine) == 6_000
    assert sessions["row_count"].sum() > 1_000
    assert set(quarantine["reason"]) == set(REASONS) - {
        "invalid_timestamp"
    }  # updated_at is a datetime column
