"""Every rule of the transform, each with the input that breaks it."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest

from learnosity_core.content.question_types import decode_text
from learnosity_core.template_submission.transform import (
    QUARANTINE_COLUMNS,
    REASONS,
    SourceContractError,
    TemplateIndex,
    TransformResult,
    derive_session_id,
    transform_responses,
)


def _responses(result: TransformResult) -> dict[str, dict[str, Any]]:
    """The sent responses by question id (one session expected)."""
    assert result.quarantine.empty, result.quarantine["message"].tolist()
    (entry,) = result.sessions["session_json"]
    return {r["question_id"]: r for r in json.loads(entry)["responses"]}


def _held(result: TransformResult) -> list[tuple[str, str]]:
    """(reason, message) of every quarantined row, in row order; nothing sent."""
    assert result.sessions.empty
    assert list(result.quarantine.columns) == QUARANTINE_COLUMNS
    return list(zip(result.quarantine["reason"], result.quarantine["message"], strict=True))


def _one(rows: Any, index: TemplateIndex, question_id: str, response: Any, **extra: Any) -> TransformResult:
    return transform_responses(rows({"question_id": question_id, "response": response, **extra}), index)


# --- encoded text types ---------------------------------------------------------------------------


@pytest.mark.parametrize("question_type", ["formulaV2", "longtext", "longtextV2", "plaintext", "shorttext"])
def test_text_is_encoded_exactly_as_written(
    rows: Any, index: TemplateIndex, example: Any, question_type: str
) -> None:
    raw = "  Café  au\tlait + 50% & <b>more</b>\n"
    sent = _responses(_one(rows, index, example.qid[question_type], raw))[example.qid[question_type]]
    assert sent["type"] == "string"
    assert decode_text(sent["value"]) == raw  # nothing trimmed or normalised
    assert " " not in sent["value"] and "+" in sent["value"]


def test_shorttext_counts_characters_of_the_raw_text(rows: Any, index: TemplateIndex, example: Any) -> None:
    qid = example.qid["shorttext"]
    sent = _responses(_one(rows, index, qid, "São Paulo 🌎"))[qid]
    assert sent["characterCount"] == 11  # code points, not UTF-8 bytes (15) nor encoded length
    assert "wordCount" not in sent


def test_word_counts_see_the_visible_text(rows: Any, index: TemplateIndex, example: Any) -> None:
    html = "<p>one<br>two</p><p>three&nbsp;four</p> &lt;p&gt;"
    df = rows(
        {"question_id": example.qid["longtextV2"], "response": html},
        {"question_id": example.qid["longtext"], "response": html},
        {"question_id": example.qid["plaintext"], "response": html},
    )
    sent = _responses(transform_responses(df, index))
    assert sent[example.qid["longtextV2"]]["wordCount"] == 5  # tags split words and are not words
    assert sent[example.qid["longtext"]]["wordCount"] == 5
    assert sent[example.qid["plaintext"]]["wordCount"] == 2  # plain text: markup is just text
    assert "characterCount" not in sent[example.qid["plaintext"]]


def test_formula_has_no_counts(rows: Any, index: TemplateIndex, example: Any) -> None:
    sent = _responses(_one(rows, index, example.qid["formulaV2"], "x^2"))[example.qid["formulaV2"]]
    assert set(sent) == {"question_id", "type", "value"}


def test_empty_text_is_an_empty_answer_not_unattempted(rows: Any, index: TemplateIndex, example: Any) -> None:
    qid = example.qid["shorttext"]
    assert _responses(_one(rows, index, qid, ""))[qid] == {
        "question_id": qid,
        "type": "string",
        "value": "",
        "characterCount": 0,
    }


@pytest.mark.parametrize("question_type", ["shorttext", "plaintext", "mcq", "clozeformula", "gridded"])
def test_null_response_is_unattempted_without_counts(
    rows: Any, index: TemplateIndex, example: Any, question_type: str
) -> None:
    qid = example.qid[question_type]
    sent = _responses(_one(rows, index, qid, None))[qid]
    assert sent == {
        "question_id": qid,
        "type": "string" if question_type in {"shorttext", "plaintext", "gridded"} else "array",
        "value": None,
    }


# --- gridded ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("number", ["1234.56", "-3", "+.5", "7.", "0012"])
def test_gridded_keeps_the_number_as_entered(
    rows: Any, index: TemplateIndex, example: Any, number: str
) -> None:
    qid = example.qid["gridded"]
    assert _responses(_one(rows, index, qid, number))[qid]["value"] == number


@pytest.mark.parametrize("entry", ["12,5", "1e5", " 12", "12 ", "1.2.3", "", "½", "."])
def test_gridded_rejects_anything_but_a_dot_decimal(
    rows: Any, index: TemplateIndex, example: Any, entry: str
) -> None:
    ((reason, message),) = _held(_one(rows, index, example.qid["gridded"], entry))
    assert reason == "invalid_value"
    assert f"response: {entry!r} is not a number" in message


# --- option types -------------------------------------------------------------------------------------


def test_mcq_value_must_be_an_option(rows: Any, index: TemplateIndex, example: Any) -> None:
    ((reason, message),) = _held(_one(rows, index, example.qid["mcq"], '["0", "x"]', row_id=17))
    assert reason == "invalid_value"
    assert message == (
        f"row 17 (user {example.learner}, activity {example.activity}, question {example.qid['mcq']}):"
        " response: mcq value 'x' is not one of the question's options"
    )


@pytest.mark.parametrize(
    ("question_type", "response", "fragment"),
    [
        ("mcq", "[0, 2]", "mcq value entries must be strings"),
        ("mcq", '["0", null]', "mcq value entries must be strings"),  # null is no option
        ("mcq", "[]", "needs at least one entry"),
        ("association", '["Paris", 1]', "entries must be strings or null"),
        ("association", '["Paris"]', "needs 2 entries, got 1"),
        ("association", '["Paris", "Berlin"]', "'Berlin' is not one of the question's options"),
        ("clozeinlinetext", '["cell", "membrane"]', "'membrane' is not one of the question's options"),
        ("clozetext", '["only one"]', "needs 2 entries, got 1"),
        ("clozetext", '"not an array"', "must be an array"),
    ],
)
def test_string_choice_rules(
    rows: Any, index: TemplateIndex, example: Any, question_type: str, response: str, fragment: str
) -> None:
    ((reason, message),) = _held(_one(rows, index, example.qid[question_type], response))
    assert reason == "invalid_value" and fragment in message


def test_choice_slots_may_be_null_and_free_text_is_kept(
    rows: Any, index: TemplateIndex, example: Any
) -> None:
    df = rows(
        {"question_id": example.qid["association"], "response": '[null, "Lima"]'},
        {"question_id": example.qid["clozetext"], "response": '["any text", null]'},
    )
    sent = _responses(transform_responses(df, index))
    assert sent[example.qid["association"]]["value"] == [None, "Lima"]
    assert sent[example.qid["clozetext"]]["value"] == ["any text", None]


@pytest.mark.parametrize(
    ("response", "fragment"),
    [
        ("[[0], [1], [0]]", "needs one entry per stem (4), got 3"),
        ("[[0], [1], [0], [2]]", "option index 2 is out of range (0-1)"),
        ('[[0], [1], [0], ["1"]]', "'1' is not an option index"),
        ("[[0], [1], [0], []]", "non-empty array of option indices"),
    ],
)
def test_choicematrix_rules(
    rows: Any, index: TemplateIndex, example: Any, response: str, fragment: str
) -> None:
    ((reason, message),) = _held(_one(rows, index, example.qid["choicematrix"], response))
    assert reason == "invalid_value" and fragment in message


@pytest.mark.parametrize("response", ["[0, 1, 2]", "[0, 0, 1, 2]", "[1, 2, 3, 4]", '["0", "1", "2", "3"]'])
def test_orderlist_must_permute_the_list(
    rows: Any, index: TemplateIndex, example: Any, response: str
) -> None:
    ((reason, _),) = _held(_one(rows, index, example.qid["orderlist"], response))
    assert reason == "invalid_value"


def test_clozeformula_needs_value_and_response_boxes(rows: Any, index: TemplateIndex, example: Any) -> None:
    qid = example.qid["clozeformula"]
    ((reason, message),) = _held(_one(rows, index, qid, '[["x"],["y"]]'))
    assert reason == "missing_responses" and "response_boxes: clozeformula needs responses" in message
    ((reason, message),) = _held(_one(rows, index, qid, '[["x"],["y"]]', response_boxes='[["x"]]'))
    assert reason == "missing_responses" and "needs 2 response boxes, got 1" in message
    ((reason, message),) = _held(_one(rows, index, qid, '[["x"],["y"]]', response_boxes="[[x]]"))
    assert reason == "invalid_value" and message.endswith(
        "response_boxes: '[[x]]' is not JSON (Expecting value: line 1 column 3 (char 2))"
    )
    ((reason, message),) = _held(_one(rows, index, qid, '["x", "y"]', response_boxes='[["x"],["y"]]'))
    assert reason == "invalid_value" and "array of arrays of strings" in message


def test_response_boxes_only_for_clozeformula(rows: Any, index: TemplateIndex, example: Any) -> None:
    ((reason, message),) = _held(
        _one(rows, index, example.qid["clozetext"], '["a","b"]', response_boxes='[["a"]]')
    )
    assert reason == "invalid_value" and "response_boxes: only clozeformula takes response boxes" in message
    ((reason, message),) = _held(
        _one(rows, index, example.qid["clozeformula"], None, response_boxes='[["a"]]')
    )
    assert reason == "invalid_value" and "the response is NULL (unattempted)" in message
    qid = example.qid["clozetext"]
    assert _responses(_one(rows, index, qid, '["a","b"]', response_boxes=""))[qid]["value"] == ["a", "b"]


@pytest.mark.parametrize("response", ["0, 2", "", "['0']", "[0"])
def test_array_responses_must_be_json(rows: Any, index: TemplateIndex, example: Any, response: str) -> None:
    ((reason, message),) = _held(_one(rows, index, example.qid["mcq"], response))
    assert reason == "invalid_value" and f"response: {response!r} is not JSON" in message


def test_json_that_cannot_be_sent_is_held_back(rows: Any, index: TemplateIndex, example: Any) -> None:
    ((reason, message),) = _held(_one(rows, index, example.qid["clozetext"], '["\\ud800", "x"]'))
    assert reason == "invalid_value" and "not valid Unicode" in message
    ((reason, message),) = _held(_one(rows, index, example.qid["mcq"], "[" * 100_000 + "]" * 100_000))
    assert reason == "invalid_value" and "is not JSON" in message


# --- template membership and type -----------------------------------------------------------------


def test_unknown_activity_is_held_back(rows: Any, index: TemplateIndex, example: Any) -> None:
    held = _held(_one(rows, index, example.qid["mcq"], '["0"]', activity_id="no-such-activity"))
    assert held == [
        (
            "unknown_activity",
            f"row 1 (user {example.learner}, activity no-such-activity, question {example.qid['mcq']}):"
            " activity_id: no template for activity 'no-such-activity'",
        )
    ]


def test_question_must_be_in_the_activitys_template(rows: Any, index: TemplateIndex, example: Any) -> None:
    ((reason, message),) = _held(_one(rows, index, "s-mcq", '["a"]'))  # a question of the other activity
    assert reason == "unknown_question"
    assert message.endswith(f"question_id: 's-mcq' is not in the template of activity {example.activity!r}")


def test_declared_question_type_must_agree(rows: Any, index: TemplateIndex, example: Any) -> None:
    qid = example.qid["shorttext"]
    ((reason, message),) = _held(_one(rows, index, qid, "hello", question_type="longtext"))
    assert reason == "type_conflict"
    assert message.endswith("question_type: 'longtext', but the template says 'shorttext'")
    assert _responses(_one(rows, index, qid, "hello", question_type="shorttext"))[qid]["value"] == "hello"
    assert _responses(_one(rows, index, qid, "hello", question_type=""))[qid]["value"] == "hello"


# --- identity --------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["user_id", "activity_id", "question_id"])
def test_required_fields(rows: Any, index: TemplateIndex, example: Any, field: str) -> None:
    for empty in (None, "", "   ", "\t"):
        spec = {"question_id": example.qid["mcq"], "response": '["0"]', field: empty}
        ((reason, message),) = _held(transform_responses(rows(spec), index))
        assert reason == "missing_field" and message.endswith(f"{field}: missing or blank"), repr(empty)


def test_required_columns(rows: Any, index: TemplateIndex, example: Any) -> None:
    df = rows({"question_id": example.qid["mcq"], "response": '["0"]'}).drop(columns=["response"])
    with pytest.raises(SourceContractError, match="response"):
        transform_responses(df, index)


def test_session_id_is_derived_deterministically(rows: Any, index: TemplateIndex, example: Any) -> None:
    spec = {"question_id": example.qid["mcq"], "response": '["0"]'}
    first = transform_responses(rows(spec), index).sessions["session_id"].iloc[0]
    again = transform_responses(rows(spec, session_id=""), index).sessions["session_id"].iloc[0]
    assert first == again == derive_session_id(example.activity, example.learner)
    with_attempt = transform_responses(rows(spec, attempt=2), index).sessions["session_id"].iloc[0]
    assert with_attempt == derive_session_id(example.activity, example.learner, "2") != first
    other = transform_responses(rows(spec, user_id="someone-else"), index).sessions["session_id"].iloc[0]
    assert other != first


def test_given_session_id_is_kept_as_is(rows: Any, index: TemplateIndex, example: Any) -> None:
    upper = example.session.upper()
    spec = {"question_id": example.qid["mcq"], "response": '["0"]', "session_id": upper}
    result = transform_responses(rows(spec), index)
    assert result.sessions["session_id"].tolist() == [upper]
    assert json.loads(result.sessions["session_json"].iloc[0])["session_id"] == upper


@pytest.mark.parametrize(
    "bad",
    ["session-17", "{" + "cb6ffc66-8fdb-4beb-a712-cffc31725e57" + "}", "cb6ffc668fdb4beba712cffc31725e57"],
)
def test_given_session_id_must_be_a_uuid(rows: Any, index: TemplateIndex, example: Any, bad: str) -> None:
    spec = {"question_id": example.qid["mcq"], "response": '["0"]', "session_id": bad}
    result = transform_responses(rows(spec), index)
    ((reason, message),) = _held(result)
    assert reason == "invalid_session_id" and message.endswith(f"session_id: {bad!r} is not a UUID")
    assert result.quarantine["session_id"].tolist() == [bad]


def test_session_id_of_another_learner_is_a_conflict(rows: Any, index: TemplateIndex, example: Any) -> None:
    df = rows(
        {"user_id": "a-learner", "question_id": example.qid["mcq"], "response": '["0"]'},
        {"user_id": "b-learner", "question_id": example.qid["mcq"], "response": '["1"]'},
        {"user_id": "b-learner", "question_id": example.qid["shorttext"], "response": "hi"},
        session_id=example.session,
    )
    result = transform_responses(df, index)
    assert result.sessions["user_id"].tolist() == ["a-learner"]
    assert result.quarantine["reason"].tolist() == ["session_id_conflict"] * 2
    owner = f"already belongs to user a-learner in activity {example.activity}"
    assert result.quarantine["message"].iloc[0].endswith(f"session_id: {example.session!r} {owner}")


def test_unparseable_updated_at(rows: Any, index: TemplateIndex, example: Any) -> None:
    spec = {"question_id": example.qid["mcq"], "response": '["0"]', "updated_at": "yesterday"}
    ((reason, message),) = _held(transform_responses(rows(spec), index))
    assert reason == "invalid_timestamp" and message.endswith("updated_at: 'yesterday' is not a timestamp")


# --- whole sessions, duplicates, conservation ----------------------------------------------------------


def test_one_bad_row_holds_back_its_whole_session(rows: Any, index: TemplateIndex, example: Any) -> None:
    q = example.qid
    df = rows(
        {"question_id": q["mcq"], "response": '["0"]', "row_id": 16},
        {"question_id": q["shorttext"], "response": "fine", "row_id": 17},
        {"question_id": q["gridded"], "response": "12,5", "row_id": 18},
        {"question_id": q["mcq"], "response": '["1"]', "row_id": 19, "user_id": "another-learner"},
    )
    result = transform_responses(df, index)
    assert result.sessions["user_id"].tolist() == ["another-learner"]
    q_rows = result.quarantine
    assert q_rows["row_id"].tolist() == [16, 17, 18]
    assert q_rows["reason"].tolist() == ["session_held_back", "session_held_back", "invalid_value"]
    assert q_rows["message"].iloc[0] == (
        f"row 16 (user {example.learner}, activity {example.activity}, question {q['mcq']}):"
        " held back with its session: row 18 has invalid_value"
    )
    assert set(q_rows["session_id"]) == {derive_session_id(example.activity, example.learner)}
    assert set(q_rows["reason"]) <= set(REASONS)


def test_several_bad_rows_are_all_named(rows: Any, index: TemplateIndex, example: Any) -> None:
    q = example.qid
    df = rows(
        {"question_id": q["mcq"], "response": '["9"]'},
        {"question_id": "not-in-template", "response": "x"},
        {"question_id": q["shorttext"], "response": "fine"},
    )
    result = transform_responses(df, index)
    assert result.quarantine["reason"].tolist() == ["invalid_value", "unknown_question", "session_held_back"]
    assert result.quarantine["message"].iloc[2].endswith("row 1 has invalid_value (and 1 more)")


def test_latest_duplicate_wins_and_the_superseded_row_counts_in_the_session(
    rows: Any, index: TemplateIndex, example: Any
) -> None:
    q = example.qid["shorttext"]
    df = rows(
        {"question_id": q, "response": "first scan", "updated_at": "2026-03-02 10:00:00"},
        {"question_id": q, "response": "rescan", "updated_at": "2026-03-02 11:00:00"},
        {"question_id": q, "response": "no timestamp", "updated_at": None},
    )
    result = transform_responses(df, index)
    assert _responses(result)[q]["value"] == "rescan"
    assert result.sessions["row_count"].tolist() == [3]


def test_superseded_rows_never_quarantine_their_session(
    rows: Any, index: TemplateIndex, example: Any
) -> None:
    q = example.qid["mcq"]
    df = rows(
        {"question_id": q, "response": '["bad option"]', "updated_at": "2026-03-02 10:00:00"},
        {"question_id": q, "response": '["1"]', "updated_at": "2026-03-02 10:00:01"},
    )
    assert _responses(transform_responses(df, index))[q]["value"] == ["1"]


def test_identical_ties_are_one_answer(rows: Any, index: TemplateIndex, example: Any) -> None:
    q = example.qid["mcq"]
    df = rows(*[{"question_id": q, "response": '["1"]', "updated_at": "2026-03-02 10:00:00"}] * 2)
    result = transform_responses(df, index)
    assert _responses(result)[q]["value"] == ["1"]
    assert result.sessions["row_count"].tolist() == [2]


def test_different_values_at_the_same_time_conflict(rows: Any, index: TemplateIndex, example: Any) -> None:
    q = example.qid
    df = rows(
        {"question_id": q["mcq"], "response": '["1"]', "updated_at": "2026-03-02 10:00:00", "row_id": 3},
        {"question_id": q["mcq"], "response": '["0"]', "updated_at": "2026-03-02 09:00:00", "row_id": 4},
        {"question_id": q["mcq"], "response": '["2"]', "updated_at": "2026-03-02 10:00:00", "row_id": 5},
        {"question_id": q["shorttext"], "response": "fine", "updated_at": "2026-03-02 10:00:00", "row_id": 6},
    )
    result = transform_responses(df, index)
    assert result.sessions.empty
    assert result.quarantine["reason"].tolist() == [
        "duplicate_conflict",
        "session_held_back",
        "duplicate_conflict",
        "session_held_back",
    ]
    assert (
        "rows 3, 5 share the latest updated_at but have different values"
        in result.quarantine["message"].iloc[0]
    )


def test_rows_in_equal_rows_sent_plus_quarantined(rows: Any, index: TemplateIndex, example: Any) -> None:
    q = example.qid
    df = rows(
        {"question_id": q["mcq"], "response": '["0"]'},
        {"question_id": q["mcq"], "response": '["1"]', "updated_at": "2026-01-01"},
        {"question_id": q["shorttext"], "response": "a", "user_id": "u2"},
        {"question_id": q["gridded"], "response": "x", "user_id": "u2"},
        {"question_id": q["mcq"], "response": '["0"]', "activity_id": "gone"},
    )
    result = transform_responses(df, index)
    assert result.sessions["row_count"].sum() + len(result.quarantine) == len(df) == 5
    assert result.sessions["row_count"].tolist() == [2]


def test_row_ids_from_the_source_or_numbered(rows: Any, index: TemplateIndex, example: Any) -> None:
    spec = {"question_id": "nope", "response": "x"}
    assert transform_responses(rows(spec, spec), index).quarantine["row_id"].tolist() == [1, 2]
    named = rows({**spec, "row_id": "r-9"})
    assert transform_responses(named, index).quarantine["row_id"].tolist() == ["r-9"]


def test_empty_input(rows: Any, index: TemplateIndex) -> None:
    result = transform_responses(
        rows().reindex(columns=["user_id", "activity_id", "question_id", "response"]), index
    )
    assert result.sessions.empty and result.quarantine.empty
    assert list(result.quarantine.columns) == QUARANTINE_COLUMNS


def test_non_text_ids_are_read_as_text(index: TemplateIndex, example: Any) -> None:
    df = pd.DataFrame(
        {
            "user_id": [1001, 1001],
            "activity_id": [example.activity] * 2,
            "question_id": [example.qid["mcq"], example.qid["gridded"]],
            "response": ['["0"]', "3"],
            "attempt": [1.0, 1.0],
        }
    )
    result = transform_responses(df, index)
    assert result.sessions["user_id"].tolist() == ["1001"]
    assert result.sessions["session_id"].tolist() == [derive_session_id(example.activity, "1001", "1")]
