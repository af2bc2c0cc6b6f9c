"""Streaming: sessions are never split across chunks, and rows keep one numbering."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from learnosity_core.template_submission.transform import TemplateIndex, UnorderedInputError, transform_chunks


def _learner(rows: Any, example: Any, user_id: str, *questions: str) -> pd.DataFrame:
    specs = [{"question_id": example.qid[q], "response": '["0"]' if q == "mcq" else "3"} for q in questions]
    return rows(*specs, user_id=user_id)


def test_a_learner_split_across_chunks_is_one_session(rows: Any, index: TemplateIndex, example: Any) -> None:
    a = _learner(rows, example, "a", "mcq", "gridded")
    b = _learner(rows, example, "b", "mcq", "gridded")
    chunks = [a.iloc[:1], a.iloc[1:], pd.DataFrame(columns=a.columns), b.iloc[:1], b.iloc[1:]]
    results = list(transform_chunks(chunks, index))
    sessions = pd.concat([r.sessions for r in results])
    assert sessions["user_id"].tolist() == ["a", "b"]
    assert sessions["row_count"].tolist() == [2, 2]
    assert [len(r.sessions) for r in results] == [1, 1]  # "a" only once the next learner started


def test_rows_are_numbered_across_chunks(rows: Any, index: TemplateIndex, example: Any) -> None:
    bad = rows(*[{"question_id": "not-in-template", "response": "x", "user_id": u} for u in "abcde"])
    results = transform_chunks([bad.iloc[:2], bad.iloc[2:3], bad.iloc[3:]], index)
    assert pd.concat([r.quarantine for r in results])["row_id"].tolist() == [1, 2, 3, 4, 5]


def test_unordered_input_is_refused(rows: Any, index: TemplateIndex, example: Any) -> None:
    df = pd.concat([_learner(rows, example, u, "mcq") for u in ("a", "b", "a")], ignore_index=True)
    with pytest.raises(UnorderedInputError, match="activity 'example-paper-based-activity', user 'a'"):
        list(transform_chunks([df], index))


def test_a_session_id_keeps_its_first_owner_across_chunks(
    rows: Any, index: TemplateIndex, example: Any
) -> None:
    a = _learner(rows, example, "a", "mcq").assign(session_id=example.session)
    b = _learner(rows, example, "b", "mcq").assign(session_id=example.session)
    results = list(transform_chunks([a, b], index))
    assert pd.concat([r.sessions for r in results])["user_id"].tolist() == ["a"]
    assert pd.concat([r.quarantine for r in results])["reason"].tolist() == ["session_id_conflict"]


def test_empty_and_null_learners_may_come_apart(rows: Any, index: TemplateIndex, example: Any) -> None:
    # A database sorts '' and NULL apart (NULLs last); both are a missing user_id, not disorder.
    df = pd.concat([_learner(rows, example, u, "mcq") for u in ("", "a", None)], ignore_index=True)
    results = list(transform_chunks([df.iloc[:2], df.iloc[2:]], index))
    assert pd.concat([r.sessions for r in results])["user_id"].tolist() == ["a"]
    assert pd.concat([r.quarantine for r in results])["reason"].tolist() == ["missing_field"] * 2


def test_no_chunks_no_results(index: TemplateIndex) -> None:
    assert list(transform_chunks([], index)) == []
