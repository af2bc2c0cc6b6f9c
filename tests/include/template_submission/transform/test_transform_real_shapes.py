"""The transform on a template in Learnosity's published shapes: every stated constraint, and warnings."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from learnosity_core.content.responses import check_response
from learnosity_core.template_submission.transform import (
    WARNING_COLUMNS,
    WARNINGS,
    TemplateIndex,
    TransformResult,
    transform_chunks,
    transform_responses,
)

# A valid warehouse row (response, response_boxes) for every question of real_shapes, by question id.
ANSWERS: dict[str, tuple[str, str | None]] = {
    "mcq-single": ('["2"]', None),
    "mcq-multiple": ('["two", "five"]', None),
    "mcq-no-values": ('["1"]', None),
    "matrix-single": ("[[0], [1], [0]]", None),
    "matrix-multiple": ("[[0, 2], [0, 1]]", None),
    "association-groups": ('["Paris", "Tokyo", null]', None),
    "association-flat": ('[null, "[Choice C]"]', None),
    "orderlist": ("[3, 1, 0, 2]", None),
    "cloze-one": ('["happy"]', None),
    "inline-two": ('["Berlin", "Spree"]', None),
    "formula-three": ('[["1"], ["2"], ["3"]]', '[["1"], ["2"], ["3"]]'),
    "grid-fraction": ("3/4", None),
    "grid-signed": ("-12.5", None),
    "short": ("Tokyo", None),
    "plain": ("one two three", None),
    "essay": ("<p>cells divide</p>", None),
    "letter": ("Dear author", None),
    "formula": ("\\frac{3}{4}", None),
}


def _row(qid: str, response: str | None, boxes: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"question_id": qid, "response": response, "response_boxes": boxes, **extra}


def _paper(rows: Any, activity: str, **changed: tuple[str, str | None]) -> pd.DataFrame:
    """One learner's whole paper, with some answers changed."""
    answers = {**ANSWERS, **changed}
    return rows(*(_row(qid, *answer) for qid, answer in answers.items()), activity_id=activity)


def test_the_whole_paper_is_one_session_in_template_order(
    rows: Any, index: TemplateIndex, real_shapes: Any
) -> None:
    result = transform_responses(_paper(rows, real_shapes.ACTIVITY), index)
    assert result.quarantine.empty, result.quarantine["message"].tolist()
    (entry,) = result.sessions["session_json"]
    sent = {r["question_id"]: r for r in json.loads(entry)["responses"]}
    assert list(sent) == list(real_shapes.QUESTIONS)
    assert [sent[q]["value"] for q in ("mcq-single", "mcq-multiple", "mcq-no-values")] == [
        ["2"],
        ["two", "five"],
        ["1"],
    ]
    assert sent["matrix-multiple"]["value"] == [[0, 2], [0, 1]]
    assert sent["association-groups"]["value"] == ["Paris", "Tokyo", None]
    assert sent["formula-three"] == {
        "question_id": "formula-three",
        "type": "array",
        "value": [["1"], ["2"], ["3"]],
        "responses": [["1"], ["2"], ["3"]],
    }
    assert (sent["grid-fraction"]["value"], sent["grid-signed"]["value"]) == ("3/4", "-12.5")
    assert sent["short"] == {"question_id": "short", "type": "string", "value": "Tokyo", "characterCount": 5}
    assert sent["essay"]["wordCount"] == 2
    assert result.warnings.empty


@pytest.mark.parametrize(
    ("qid", "response", "boxes", "message"),
    [
        ("mcq-single", '["0", "2"]', None, "takes one option (multiple_responses is false), got 2"),
        ("mcq-single", '["2", null]', None, "mcq value entries must be strings"),
        ("mcq-multiple", '["2"]', None, "'2' is not one of the question's options"),
        ("mcq-no-values", '["A"]', None, "'A' is not one of the question's options"),
        (
            "matrix-single",
            "[[0, 1], [1], [0]]",
            None,
            "stem 0 takes one option (multiple_responses is false)",
        ),
        ("matrix-multiple", "[[0], [3]]", None, "option index 3 is out of range (0-2)"),
        (
            "association-groups",
            '["Paris", "Berlin", null]',
            None,
            "'Berlin' is not one of the question's options",
        ),
        ("association-flat", '["[Choice A]"]', None, "needs 2 entries, got 1"),
        ("orderlist", "[0, 1, 2]", None, "must be a permutation of 0..3"),
        ("cloze-one", '["happy", "glad"]', None, "needs 1 entries, got 2"),
        ("inline-two", '["Berlin"]', None, "needs 2 entries, got 1"),
        (
            "formula-three",
            '[["1"]]',
            '[["1"], ["2"]]',
            "response_boxes: clozeformula needs 3 response boxes, got 2",
        ),
        ("grid-fraction", "12345", None, "'12345' needs 5 columns, the grid has 4"),
        ("grid-fraction", "1.5", None, "'1.5' has a decimal point, but the grid has neither"),
        ("grid-fraction", "-3", None, "'-3' has a sign, but the grid has no plus_minus_column"),
        ("grid-signed", "1/2", None, "'1/2' has a fraction slash, but the grid has no fraction_slash"),
        ("grid-signed", "16", None, "'16' has a digit outside the grid's range 0-5"),
        ("grid-signed", "-1234.5", None, "'-1234.5' needs 6 columns, the grid has 5"),
    ],
)
def test_each_stated_constraint_holds_the_session_back(
    rows: Any,
    index: TemplateIndex,
    real_shapes: Any,
    qid: str,
    response: str,
    boxes: str | None,
    message: str,
) -> None:
    result = transform_responses(_paper(rows, real_shapes.ACTIVITY, **{qid: (response, boxes)}), index)
    assert result.sessions.empty
    (own,) = result.quarantine[result.quarantine["reason"] != "session_held_back"].itertuples()
    assert own.question_id == qid and message in own.message, own.message
    assert len(result.quarantine) == len(ANSWERS)


def _warnings(result: TransformResult) -> list[tuple[str, str, int]]:
    assert list(result.warnings.columns) == WARNING_COLUMNS
    return list(result.warnings.itertuples(index=False, name=None))


def test_longer_text_is_sent_as_written_and_counted_once_per_sent_response(
    rows: Any, index: TemplateIndex, real_shapes: Any
) -> None:
    long_short = ("Tokyo Japan", None)  # 11 characters, max_length 10
    sent = _paper(
        rows,
        real_shapes.ACTIVITY,
        short=long_short,
        plain=("one two three four five six", None),  # 6 words, max_length 5
        essay=("<p>" + " ".join(["word"] * 9) + "</p>", None),  # 9 words, max_length 8
        letter=(" ".join(["word"] * 400), None),  # no max_length stated: Learnosity's 10,000
    ).assign(user_id="a")
    held = _paper(rows, real_shapes.ACTIVITY, short=long_short, orderlist=("[0]", None)).assign(user_id="b")
    rescanned = _paper(rows, real_shapes.ACTIVITY).assign(user_id="c", updated_at="2026-03-02 10:00:00")
    earlier = rows(
        _row("short", *long_short), activity_id=real_shapes.ACTIVITY, user_id="c", updated_at="2026-03-01"
    )
    result = transform_responses(pd.concat([sent, held, rescanned, earlier], ignore_index=True), index)
    assert result.sessions["user_id"].tolist() == ["a", "c"]
    responses = {
        r["question_id"]: r for r in json.loads(result.sessions["session_json"].iloc[0])["responses"]
    }
    assert responses["short"] == {
        "question_id": "short",
        "type": "string",
        "value": "Tokyo+Japan",
        "characterCount": 11,
    }
    # Held-back and superseded rows are not sent, so their long answers are not counted.
    assert _warnings(result) == [(real_shapes.ACTIVITY, "over_max_length", 3)]
    assert set(result.warnings["code"]) <= set(WARNINGS)


def test_warnings_are_counted_per_activity(
    rows: Any, index: TemplateIndex, real_shapes: Any, example: Any
) -> None:
    df = pd.concat(
        [
            _paper(rows, real_shapes.ACTIVITY, short=("Tokyo Japan", None)),
            rows(_row(example.qid["shorttext"], "x" * 51)),  # no max_length stated: Learnosity's 50
            rows(_row(example.qid["shorttext"], "x" * 50), user_id="another-learner"),
        ],
        ignore_index=True,
    )
    result = transform_responses(df, index)
    assert _warnings(result) == [
        (example.activity, "over_max_length", 1),
        (real_shapes.ACTIVITY, "over_max_length", 1),
    ]
    assert result.warnings["count"].dtype == "int64"


def test_streaming_carries_each_chunks_warnings(rows: Any, index: TemplateIndex, real_shapes: Any) -> None:
    learners = [
        _paper(rows, real_shapes.ACTIVITY, short=("Tokyo Japan", None)).assign(user_id=u) for u in "abc"
    ]
    df = pd.concat(learners, ignore_index=True)
    parts = list(transform_chunks([df.iloc[:20], df.iloc[20:]], index))
    # a, then b (c may continue in a later chunk), then c: each result counts its own sessions.
    assert [p.sessions["user_id"].tolist() for p in parts] == [["a"], ["b"], ["c"]]
    assert [_warnings(p) for p in parts] == [[(real_shapes.ACTIVITY, "over_max_length", 1)]] * 3


def test_no_rows_no_warnings(rows: Any, index: TemplateIndex) -> None:
    result = transform_responses(
        rows().reindex(columns=["user_id", "activity_id", "question_id", "response"]), index
    )
    assert _warnings(result) == []
    assert result.warnings["count"].dtype == "int64"


# Entries near what a grid holds (width, sign, decimal point, slash, digit range), and any text.
GRIDDED_ENTRIES = st.one_of(
    st.from_regex(r"[+-]?[0-9]{0,6}([./][0-9]{0,3})?", fullmatch=True),
    st.text(alphabet="0123456789+-./ \n١٢٣", max_size=8),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries=st.lists(GRIDDED_ENTRIES, min_size=1, max_size=12))
def test_gridded_entries_are_judged_column_wise_as_check_response_judges_them(
    entries: list[str], index: TemplateIndex, real_shapes: Any, example: Any
) -> None:
    """RE2 reads each grid's pattern as Python does, and the width is counted alike."""
    questions = [
        (real_shapes.ACTIVITY, "grid-fraction"),
        (real_shapes.ACTIVITY, "grid-signed"),
        (example.activity, example.qid["gridded"]),
    ]
    for activity, qid in questions:
        df = pd.DataFrame(
            {
                "user_id": [f"learner-{n}" for n in range(len(entries))],
                "activity_id": activity,
                "question_id": qid,
                "response": entries,
            }
        )
        result = transform_responses(df, index)
        question = index.activity_questions(activity)[qid]
        expected = [
            f"learner-{n}"
            for n, entry in enumerate(entries)
            if check_response({qid: question}, {"question_id": qid, "type": "string", "value": entry}) is None
        ]
        assert result.sessions["user_id"].tolist() == expected, qid
