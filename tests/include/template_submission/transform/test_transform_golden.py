"""The seed page's request example, produced from warehouse rows exactly as documented."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pandas as pd

from learnosity_core.template_submission.transform import SESSION_COLUMNS, TemplateIndex, transform_responses


def _only_session(df: pd.DataFrame, index: TemplateIndex) -> dict[str, Any]:
    result = transform_responses(df, index)
    assert result.quarantine.empty, result.quarantine["message"].tolist()
    assert len(result.sessions) == 1
    entry: dict[str, Any] = json.loads(result.sessions["session_json"].iloc[0])
    return entry


def _response(entry: dict[str, Any], question_id: str) -> dict[str, Any]:
    (found,) = [r for r in entry["responses"] if r["question_id"] == question_id]
    return found


def test_seed_example_entry(rows: Any, index: TemplateIndex, example: Any) -> None:
    q = example.qid
    df = rows(
        {"question_id": q["mcq"], "response": '["0","1"]'},
        {"question_id": q["shorttext"], "response": "makka pakka"},
        {"question_id": q["longtextV2"], "response": "upsy daisy"},
        {"question_id": q["gridded"], "response": "1234.56"},
        {"question_id": q["choicematrix"], "response": "[[0, 1], [0], [1], [0]]"},
        {"question_id": q["orderlist"], "response": "[3,1,0,2]"},
        session_id=example.session,
    )
    entry = _only_session(df, index)
    assert entry == {
        "user_id": example.learner,
        "activity_id": example.activity,
        "session_id": example.session,
        "responses": [
            {"question_id": q["mcq"], "type": "array", "value": ["0", "1"]},
            {"question_id": q["shorttext"], "type": "string", "value": "makka+pakka", "characterCount": 11},
            {"question_id": q["longtextV2"], "type": "string", "value": "upsy+daisy", "wordCount": 2},
            {"question_id": q["gridded"], "type": "string", "value": "1234.56"},
            {"question_id": q["choicematrix"], "type": "array", "value": [[0, 1], [0], [1], [0]]},
            {"question_id": q["orderlist"], "type": "array", "value": [3, 1, 0, 2]},
        ],
    }


def test_session_json_is_compact_ordered_and_hashed(rows: Any, index: TemplateIndex, example: Any) -> None:
    q = example.qid
    df = rows(
        {"question_id": q["orderlist"], "response": "[3,1,0,2]", "updated_at": "2026-03-02 10:00:00"},
        {"question_id": q["shorttext"], "response": "Zürich", "updated_at": "2026-03-02 11:30:00"},
        {"question_id": q["mcq"], "response": '["2"]', "updated_at": "2026-03-02 09:00:00"},
        user_id="ü-learner",
    )
    result = transform_responses(df, index)
    assert list(result.sessions.columns) == SESSION_COLUMNS
    session = result.sessions.iloc[0]
    text = session["session_json"]
    # Compact, UTF-8 (not \\u escapes), keys in the documented order, responses in template order.
    assert text.startswith(
        '{"user_id":"ü-learner","activity_id":"example-paper-based-activity","session_id":'
    )
    assert '"value":"Z%C3%BCrich","characterCount":6}' in text
    assert [r["question_id"] for r in json.loads(text)["responses"]] == [
        q["mcq"],
        q["shorttext"],
        q["orderlist"],
    ]
    assert ": " not in text and ", " not in text
    assert session["content_hash"] == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert session["row_count"] == 3
    assert session["max_updated_at"] == pd.Timestamp("2026-03-02 11:30:00", tz="UTC")


def test_every_type_in_one_session(rows: Any, index: TemplateIndex, example: Any) -> None:
    q = example.qid
    df = rows(
        {"question_id": q["association"], "response": '["Tokyo", null]'},
        {"question_id": q["clozetext"], "response": '["mitochondria", "ATP"]'},
        {"question_id": q["clozeinlinetext"], "response": '["cell", "wall"]'},
        {
            "question_id": q["clozeformula"],
            "response": '[["x+1"],["2x"]]',
            "response_boxes": '[["x+1"],["2x"]]',
        },
        {"question_id": q["formulaV2"], "response": "\\frac{1}{2} + x^2"},
        {"question_id": q["longtext"], "response": "<p>Cells<br/>divide</p>"},
        {"question_id": q["plaintext"], "response": "  two\twords  "},
    )
    entry = _only_session(df, index)
    assert _response(entry, q["association"])["value"] == ["Tokyo", None]
    assert _response(entry, q["clozeformula"]) == {
        "question_id": q["clozeformula"],
        "type": "array",
        "value": [["x+1"], ["2x"]],
        "responses": [["x+1"], ["2x"]],
    }
    assert _response(entry, q["formulaV2"])["value"] == "%5Cfrac%7B1%7D%7B2%7D+%2B+x%5E2"
    assert _response(entry, q["longtext"])["wordCount"] == 2
    assert _response(entry, q["plaintext"]) == {
        "question_id": q["plaintext"],
        "type": "string",
        "value": "++two%09words++",
        "wordCount": 2,
    }
