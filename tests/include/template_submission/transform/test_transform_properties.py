"""Property tests: the column-wise transform agrees with the per-row rules it implements.

`responses.check_response`, `responses.response_warnings` and `question_types` are the oracle:
text columns must equal the per-string rules, every emitted response must pass `check_response`,
sessions must be exactly what a row-by-row reference builds, warnings must be what the sent
responses carry, no row may vanish, and chunking must not change anything.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from learnosity_core.content.gridded import GridSettings, entry_pattern, entry_width
from learnosity_core.content.question_types import (
    CHARACTER_COUNT_TYPES,
    ENCODED_TEXT_TYPES,
    RESPONSE_KIND,
    TAG_PATTERN,
    WORD_COUNT_TYPES,
    count_characters,
    count_words,
    decode_text,
    encode_text,
)
from learnosity_core.content.questions import TemplateQuestion
from learnosity_core.content.responses import check_response, response_warnings
from learnosity_core.template_submission.transform import (
    TemplateIndex,
    TransformResult,
    derive_session_id,
    transform_chunks,
    transform_responses,
)
from learnosity_core.template_submission.transform import text as text_columns

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TEXT = st.text(max_size=40)
MARKUP = ("<p>", "</p>", "<br/>", "<b\n>", "<", ">", "&", ";", "#", "a", "word", "é", "😀")
SPACES = (" ", "  ", "\t", "\n", "\x1f", "\xa0", "\u3000", "\u2028")
ENTITIES = (
    "&nbsp;",
    "&nbsp",
    "&nbspx",
    "&amp;",
    "&lt;p&gt;",
    "&#32;",
    "&#x20;",
    "&#65;",
    "&Tab;",
    "&NewLine;",
)
ENTITIES += ("&ThickSpace;", "&ThinSpace", "&ThinSpace;", "&notin;", "&ampnbsp;")
HTML_PIECES = st.sampled_from([*MARKUP, *SPACES, *ENTITIES])
HTML_TEXT = st.one_of(TEXT, st.lists(HTML_PIECES, max_size=25).map("".join))


def _column(values: list[str | None], offset: int) -> pa.Array:
    """An Arrow column, sliced so that offsets do not start at zero (as chunks of a bigger array)."""
    return pa.array([None, *values], type=pa.large_string()).slice(1 + min(offset, len(values)))


@PROPERTY
@given(st.lists(st.one_of(st.none(), TEXT), max_size=30), st.integers(0, 3))
def test_encoding_is_encode_text_and_decodes_to_the_raw_text(values: list[str | None], offset: int) -> None:
    column = _column(values, offset)
    raw = column.to_pylist()
    encoded = text_columns.encode(column).to_pylist()
    assert encoded == [None if v is None else encode_text(v) for v in raw]
    assert [None if v is None else decode_text(v) for v in encoded] == raw


def test_encoding_covers_every_character_class() -> None:
    every = ["".join(map(chr, range(128))), "\x80\xff\u0100\u07ff\u0800\uffff\U00010000\U0010ffff", ""]
    assert text_columns.encode(pa.array(every)).to_pylist() == [encode_text(v) for v in every]


@PROPERTY
@given(st.lists(HTML_TEXT, max_size=25), st.integers(0, 3))
def test_counts_match_the_reference_definitions(values: list[str], offset: int) -> None:
    column = _column(list(values), offset)
    raw = column.to_pylist()
    assert text_columns.character_counts(column).tolist() == [count_characters(v) for v in raw]
    for question_type in ("plaintext", "longtext", "longtextV2"):
        got = text_columns.word_counts(column, question_type).tolist()
        assert got == [count_words(v, question_type) for v in raw], question_type


# --- generated warehouse rows --------------------------------------------------------------------------


def _valid(q: TemplateQuestion) -> st.SearchStrategy[tuple[str | None, str | None]]:
    """A (response, response_boxes) that should pass for the question."""
    slots = q.slot_count or 1
    options = sorted(q.allowed_values) if q.allowed_values else None
    if q.type in ENCODED_TEXT_TYPES:
        return HTML_TEXT.map(lambda t: (t, None))
    if q.type == "gridded":
        return _gridded_entries(q.grid).map(lambda t: (t, None))
    if q.type == "mcq":
        assert options is not None
        most = 2 if q.multiple_responses else 1
        return st.lists(st.sampled_from(options), min_size=1, max_size=most).map(
            lambda v: (json.dumps(v), None)
        )
    if q.type in {"association", "clozetext", "clozeinlinetext"}:
        entry = st.one_of(st.none(), st.sampled_from(options) if options else TEXT)
        return st.lists(entry, min_size=slots, max_size=slots).map(lambda v: (json.dumps(v), None))
    if q.type == "choicematrix":
        most = 2 if q.multiple_responses else 1
        stem = st.lists(st.integers(0, (q.option_count or 1) - 1), min_size=1, max_size=most)
        return st.lists(stem, min_size=slots, max_size=slots).map(lambda v: (json.dumps(v), None))
    if q.type == "orderlist":
        return st.permutations(list(range(q.list_length or 1))).map(lambda v: (json.dumps(v), None))
    boxes = st.lists(st.lists(TEXT, min_size=1, max_size=2), min_size=slots, max_size=slots)
    return boxes.map(lambda v: (json.dumps(v, ensure_ascii=False), json.dumps(v, ensure_ascii=False)))


def _gridded_entries(grid: GridSettings) -> st.SearchStrategy[str]:
    """Entries the grid holds: its pattern, within its columns."""
    if grid == GridSettings():
        return st.from_regex(r"[+-]?([0-9]{1,4}(\.[0-9]{0,2})?|\.[0-9]{1,2})", fullmatch=True)
    fits = re.compile(entry_pattern(grid))
    return st.from_regex(fits, fullmatch=True).filter(lambda t: entry_width(t) <= (grid.columns or len(t)))


# Entries close to what a grid holds, to break each setting: width, sign, decimal point, slash, digits.
NEAR_GRIDDED = st.from_regex(r"[+-]?[0-9]{0,6}([./][0-9]{0,3})?", fullmatch=True)
ATOM = st.one_of(st.none(), st.integers(-1, 4), st.sampled_from(["0", "1", "a", "Paris", "cell", "x"]), TEXT)
JSONISH = st.recursive(ATOM, lambda inner: st.lists(inner, max_size=4), max_leaves=8).map(json.dumps)
ANYTHING = st.tuples(st.one_of(st.none(), TEXT, JSONISH), st.one_of(st.none(), st.just(""), JSONISH))


def _response(q: TemplateQuestion) -> st.SearchStrategy[tuple[str | None, str | None]]:
    """Mostly valid answers (so sessions get sent), sometimes anything at all."""
    anything = st.one_of(ANYTHING, NEAR_GRIDDED.map(lambda t: (t, None))) if q.type == "gridded" else ANYTHING
    return st.one_of(_valid(q), _valid(q), _valid(q), st.just((None, None)), anything)


COLUMNS = ["user_id", "activity_id", "question_id", "response", "response_boxes", "updated_at", "session_id"]
COLUMNS += ["question_type"]


@st.composite
def warehouse(draw: st.DrawFn, index: TemplateIndex, messy: bool) -> pd.DataFrame:
    """Rows ordered by activity and learner; `messy` adds duplicates and identity problems."""
    records: list[dict[str, Any]] = []
    activities = [*index.activity_ids, "no-template"] if messy else index.activity_ids
    for activity_id in activities:
        questions = list(index.activity_questions(activity_id).values()) if activity_id in index else []
        questions = questions or list(index.activity_questions(index.activity_ids[0]).values())
        for learner in range(draw(st.integers(0, 3))):
            chosen = draw(
                st.lists(st.sampled_from(questions), min_size=1, max_size=6, unique_by=lambda q: q.id)
            )
            for q in chosen:
                response, boxes = draw(_response(q))
                record = {
                    "user_id": f"learner-{learner}",
                    "activity_id": activity_id,
                    "question_id": q.id,
                    "response": response,
                    "response_boxes": boxes,
                    "updated_at": pd.Timestamp("2026-03-02") + pd.Timedelta(minutes=draw(st.integers(0, 3))),
                    "session_id": None,
                }
                if messy:
                    record["session_id"] = draw(
                        st.sampled_from([None, None, "not-a-uuid", str(derive_session_id("x", "y"))])
                    )
                    record["question_type"] = draw(st.sampled_from([None, q.type, "mcq"]))
                    if draw(st.integers(0, 9)) == 0:
                        record["question_id"] = draw(st.sampled_from([None, "not-in-template"]))
                records.append(record)
                if messy and draw(st.integers(0, 4)) == 0:  # a re-scan, earlier, tied or later
                    again, again_boxes = draw(_response(q))
                    rescanned = pd.Timestamp("2026-03-02") + pd.Timedelta(minutes=draw(st.integers(0, 3)))
                    records.append(
                        dict(record, response=again, response_boxes=again_boxes, updated_at=rescanned)
                    )
    frame = pd.DataFrame.from_records(records, columns=COLUMNS)
    return frame.assign(row_id=np.arange(1, len(frame) + 1))


def _reference_object(q: TemplateQuestion, response: str | None, boxes: str | None) -> dict[str, Any] | None:
    """The response object for one row by the documented per-row rules; None when invalid."""
    if boxes is not None and (q.type != "clozeformula" or response is None):
        return None
    obj: dict[str, Any] = {"question_id": q.id, "type": RESPONSE_KIND[q.type], "value": response}
    if response is not None and q.type in ENCODED_TEXT_TYPES:
        obj["value"] = encode_text(response)
        if q.type in CHARACTER_COUNT_TYPES:
            obj["characterCount"] = count_characters(response)
        if q.type in WORD_COUNT_TYPES:
            obj["wordCount"] = count_words(response, q.type)
    elif response is not None and obj["type"] == "array":
        try:
            obj["value"] = json.loads(response)
            if boxes is not None:
                if obj["value"] is None:
                    return None
                obj["responses"] = json.loads(boxes)
        except ValueError:
            return None
    if check_response({q.id: q}, obj) is not None:
        return None
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return None
    return obj


def _reference_sessions(df: pd.DataFrame, index: TemplateIndex) -> list[str]:
    """Session entries of a clean frame (one row per learner and question), built row by row."""
    entries = []
    for (activity_id, user_id), group in df.groupby(["activity_id", "user_id"], sort=False):
        questions = index.activity_questions(activity_id)
        order = list(questions)
        objects = []
        for record in group.to_dict("records"):
            boxes = (
                record["response_boxes"]
                if isinstance(record["response_boxes"], str) and record["response_boxes"]
                else None
            )
            response = record["response"] if isinstance(record["response"], str) else None
            objects.append(_reference_object(questions[record["question_id"]], response, boxes))
        if all(o is not None for o in objects):
            objects.sort(key=lambda o: order.index(o["question_id"]))
            entry = {
                "user_id": user_id,
                "activity_id": activity_id,
                "session_id": derive_session_id(activity_id, user_id),
                "responses": objects,
            }
            entries.append(json.dumps(entry, ensure_ascii=False, separators=(",", ":")))
    return entries


def _session_keys(df: pd.DataFrame) -> pd.Series:
    """(activity_id, user_id, session_id) of every row: the given session id, else the derived one."""
    return pd.Series(
        [
            (a, u, s if isinstance(s, str) and s else derive_session_id(a, u) if a and u else None)
            for a, u, s in zip(df["activity_id"], df["user_id"], df["session_id"], strict=True)
        ],
        index=df["row_id"],
    )


def _assert_sound(result: TransformResult, df: pd.DataFrame, index: TemplateIndex) -> None:
    """No row vanishes, and every sent response passes the canonical per-object rules.

    Exact conservation: each quarantined row is listed once, and every other row belongs to a sent
    session whose `row_count` is exactly its number of rows (superseded duplicates included).
    """
    keys = _session_keys(df)
    quarantined = result.quarantine["row_id"]
    assert quarantined.is_unique and set(quarantined) <= set(df["row_id"])
    kept = keys.drop(index=quarantined).value_counts().to_dict()
    sent = zip(
        result.sessions["activity_id"], result.sessions["user_id"], result.sessions["session_id"], strict=True
    )
    counts = dict(zip(sent, result.sessions["row_count"], strict=True))
    assert counts == kept and len(counts) == len(result.sessions)
    assert result.sessions["row_count"].sum() + len(quarantined) == len(df)
    warned: Counter[tuple[str, str]] = Counter()
    for _, session in result.sessions.iterrows():
        entry = json.loads(session["session_json"])
        identity = ("user_id", "activity_id", "session_id")
        assert [entry[k] for k in identity] == [session[k] for k in identity]
        questions = index.activity_questions(entry["activity_id"])
        for response in entry["responses"]:
            assert check_response(questions, response) is None, response
            for code in response_warnings(questions[response["question_id"]], response):
                warned[entry["activity_id"], code] += 1
    assert _warning_counts(result.warnings) == warned


def _warning_counts(warnings: pd.DataFrame) -> Counter[tuple[str, str]]:
    assert warnings["count"].gt(0).all()
    return Counter(
        {
            (a, c): n
            for a, c, n in zip(warnings["activity_id"], warnings["code"], warnings["count"], strict=True)
        }
    )


@PROPERTY
@given(data=st.data())
def test_clean_rows_give_exactly_the_per_row_sessions(data: st.DataObject, index: TemplateIndex) -> None:
    df = data.draw(warehouse(index, messy=False))
    result = transform_responses(df, index)
    _assert_sound(result, df, index)
    assert result.sessions["session_json"].tolist() == _reference_sessions(df, index)


@PROPERTY
@given(data=st.data())
def test_messy_rows_are_sent_soundly_or_held_back(data: st.DataObject, index: TemplateIndex) -> None:
    df = data.draw(warehouse(index, messy=True))
    _assert_sound(transform_responses(df, index), df, index)


@PROPERTY
@given(data=st.data())
def test_chunked_streaming_equals_one_frame(data: st.DataObject, index: TemplateIndex) -> None:
    df = data.draw(warehouse(index, messy=True))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(df)), max_size=5)))
    chunks = [df.iloc[a:b] for a, b in zip([0, *cuts], [*cuts, len(df)], strict=True)]
    whole = transform_responses(df, index)
    parts = list(transform_chunks(chunks, index))
    sessions = pd.concat([whole.sessions.iloc[:0], *(p.sessions for p in parts)], ignore_index=True)
    quarantine = pd.concat([whole.quarantine.iloc[:0], *(p.quarantine for p in parts)], ignore_index=True)
    pd.testing.assert_frame_equal(sessions, whole.sessions)
    pd.testing.assert_frame_equal(
        quarantine.sort_values("row_id", ignore_index=True),
        whole.quarantine.sort_values("row_id", ignore_index=True),
    )
    assert sum((_warning_counts(p.warnings) for p in parts), Counter()) == _warning_counts(whole.warnings)


def test_tag_stripping_follows_the_shared_pattern() -> None:
    # text._tags implements this exact pattern with NumPy; a new pattern needs a new implementation.
    assert TAG_PATTERN == "<[^>]*>"
