"""The emulator as an independent witness: its rules and the client's judge the same inputs.

Every case is a response object (against a seeded template) or a failed-submission blob, with
the verdict the documented contract gives it. The emulator must give that verdict; the client
must give it too, except in the cases listed in CLIENT_DIFFERS, each with the reason the two
part. A new disagreement, or a listed one that has gone away, fails this module.
"""

from __future__ import annotations

import base64
import copy
import json
from dataclasses import dataclass
from typing import Any

import pytest

from learnosity_core.content.questions import find_questions
from learnosity_core.content.responses import check_response as client_check_response
from learnosity_core.failed_submission.blob import BlobError, decode_document, decode_failed_session
from learnosity_devtools.emulator.blobs import decode_blob, read_envelope
from learnosity_devtools.emulator.codes import Rejected
from learnosity_devtools.emulator.questions import SUPPORTED_TYPES, questions_in
from learnosity_devtools.emulator.responses import check_response
from learnosity_devtools.emulator.seed import demo_questions, demo_templates, question_id

TEMPLATES = demo_templates()


@dataclass(frozen=True)
class ResponseCase:
    name: str
    template: dict[str, Any]
    response: dict[str, Any]
    valid: bool  # the verdict of the documented contract


def _seeded_question(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The seeded template holding the named question, and that question object."""
    qid = question_id(name)
    question = demo_questions()[qid]
    for template in TEMPLATES.values():
        if qid in json.dumps(template):
            return template, question
    raise KeyError(name)


def seeded(name: str, question: str, valid: bool, **response: Any) -> ResponseCase:
    template, _ = _seeded_question(question)
    return ResponseCase(name, template, {"question_id": question_id(question), **response}, valid)


def reshaped(name: str, question: str, shape: str, valid: bool, **response: Any) -> ResponseCase:
    """A seeded question written the way Learnosity writes it rather than the way the seed does."""
    _, seed = _seeded_question(question)
    fields = {
        k: v for k, v in copy.deepcopy(seed).items() if k not in {"id", "response_id", "response_count"}
    }
    obj = {
        "item": {"reference": seed["id"], "widget_type": "response", "data": fields},
        "response_id": {"response_id": seed["id"], **fields},
        "markers": {"id": seed["id"], **fields},
    }[shape]
    template = {"items": [{"reference": "real-item", "questions": [obj]}]}
    return ResponseCase(name, template, {"question_id": seed["id"], **response}, valid)


def _array(value: Any) -> dict[str, Any]:
    return {"type": "array", "value": value}


def _string(value: Any, **counts: Any) -> dict[str, Any]:
    return {"type": "string", "value": value, **counts}


# fmt: off
RESPONSE_CASES: list[ResponseCase] = [
    # mcq: "array of one or more strings", each one of the question's option values.
    seeded("mcq-one-option", "bio-cells-organelle", True, **_array(["2"])),
    seeded("mcq-several-options", "alg-linear-solutions", True, **_array(["0", "2"])),
    seeded("mcq-unattempted", "bio-cells-organelle", True, **_array(None)),
    seeded("mcq-not-an-option", "bio-cells-organelle", False, **_array(["7"])),
    seeded("mcq-empty", "bio-cells-organelle", False, **_array([])),
    seeded("mcq-number-entry", "bio-cells-organelle", False, **_array([2])),
    seeded("mcq-null-entry", "bio-cells-organelle", False, **_array(["2", None])),
    seeded("mcq-bare-string", "bio-cells-organelle", False, **_array("2")),
    seeded("mcq-type-string", "bio-cells-organelle", False, **_string(["2"])),
    seeded("mcq-no-value", "bio-cells-organelle", False, type="array"),
    seeded("mcq-no-type", "bio-cells-organelle", False, value=["2"]),
    ResponseCase("unknown-question", TEMPLATES["demo-biology-cells-u3"],
                 {"question_id": "not-in-the-template", **_array(["2"])}, False),
    ResponseCase("no-question-id", TEMPLATES["demo-biology-cells-u3"], _array(["2"]), False),
    # association: one entry per stimulus, each a possible response (null: left empty).
    seeded("association-all", "geo-capitals-match", True, **_array(["Canberra", "Ottawa", "Brasília"])),
    seeded("association-partly", "geo-capitals-match", True, **_array([None, "Ottawa", None])),
    seeded("association-too-few", "geo-capitals-match", False, **_array(["Canberra"])),
    seeded("association-too-many", "geo-capitals-match", False,
           **_array(["Canberra", "Ottawa", "Brasília", "Sydney"])),
    seeded("association-not-possible", "geo-capitals-match", False,
           **_array(["Canberra", "Ottawa", "Paris"])),
    seeded("association-number", "geo-capitals-match", False, **_array(["Canberra", 1, "Ottawa"])),
    # clozeinlinetext / clozetext: one entry per {{response}} box.
    seeded("clozeinlinetext-all", "geo-capitals-inline", True, **_array(["Berlin", "Spree"])),
    seeded("clozeinlinetext-one-empty", "geo-capitals-inline", True, **_array(["Berlin", None])),
    seeded("clozeinlinetext-not-possible", "geo-capitals-inline", False, **_array(["Munich", "Spree"])),
    seeded("clozeinlinetext-too-few", "geo-capitals-inline", False, **_array(["Berlin"])),
    seeded("clozetext-free-text", "geo-capitals-rivers", True, **_array(["Seine", "Thames"])),
    seeded("clozetext-empty-box", "geo-capitals-rivers", True, **_array(["Seine", ""])),
    seeded("clozetext-one-box", "eng-reading-vocab", True, **_array(["happy"])),
    seeded("clozetext-too-few", "geo-capitals-rivers", False, **_array(["Seine"])),
    seeded("clozetext-bare-string", "geo-capitals-rivers", False, **_array("Seine")),
    seeded("clozetext-nested", "geo-capitals-rivers", False, **_array([["Seine"], ["Thames"]])),
    # clozeformula: value "array of arrays of one or more formulas"; responses: one array per box.
    seeded("clozeformula-both", "alg-linear-expand", True,
           **_array([["6x+3"], ["2x-8"]]), responses=[["6x+3"], ["2x-8"]]),
    seeded("clozeformula-fewer-formulas", "alg-linear-expand", True,
           **_array([["6x+3"]]), responses=[["6x+3"], ["2x-8"]]),
    seeded("clozeformula-box-left-empty", "alg-linear-expand", True,
           **_array([["6x+3"]]), responses=[["6x+3"], []]),
    seeded("clozeformula-unattempted", "alg-linear-expand", True, **_array(None)),
    seeded("clozeformula-no-responses", "alg-linear-expand", False, **_array([["6x+3"], ["2x-8"]])),
    seeded("clozeformula-one-box", "alg-linear-expand", False,
           **_array([["6x+3"], ["2x-8"]]), responses=[["6x+3"]]),
    seeded("clozeformula-flat-responses", "alg-linear-expand", False,
           **_array([["6x+3"], ["2x-8"]]), responses=["6x+3", "2x-8"]),
    seeded("clozeformula-flat-value", "alg-linear-expand", False,
           **_array(["6x+3", "2x-8"]), responses=[["6x+3"], ["2x-8"]]),
    seeded("clozeformula-empty-value", "alg-linear-expand", False,
           **_array([]), responses=[["6x+3"], ["2x-8"]]),
    seeded("clozeformula-empty-formula-list", "alg-linear-expand", False,
           **_array([["6x+3"], []]), responses=[["6x+3"], []]),
    # choicematrix: per stem, an array of one or more option indices.
    seeded("choicematrix-one-each", "bio-cells-true-false", True, **_array([[0], [1], [0]])),
    seeded("choicematrix-two-in-a-stem", "bio-cells-true-false", True, **_array([[0, 1], [0], [1]])),
    seeded("choicematrix-stem-blank", "bio-cells-true-false", True, **_array([[0], None, [1]])),
    seeded("choicematrix-too-few-stems", "bio-cells-true-false", False, **_array([[0], [1]])),
    seeded("choicematrix-index-out-of-range", "bio-cells-true-false", False, **_array([[0], [2], [0]])),
    seeded("choicematrix-negative-index", "bio-cells-true-false", False, **_array([[0], [-1], [0]])),
    seeded("choicematrix-empty-stem", "bio-cells-true-false", False, **_array([[0], [], [0]])),
    seeded("choicematrix-bare-indices", "bio-cells-true-false", False, **_array([0, 1, 0])),
    seeded("choicematrix-boolean", "bio-cells-true-false", False, **_array([[0], [True], [0]])),
    seeded("choicematrix-string-index", "bio-cells-true-false", False, **_array([["0"], [1], [0]])),
    # orderlist: every position of `list` once.
    seeded("orderlist-as-listed", "bio-cells-mitosis-order", True, **_array([0, 1, 2, 3])),
    seeded("orderlist-reordered", "bio-cells-mitosis-order", True, **_array([3, 1, 0, 2])),
    seeded("orderlist-repeat", "bio-cells-mitosis-order", False, **_array([0, 0, 1, 2])),
    seeded("orderlist-too-short", "bio-cells-mitosis-order", False, **_array([0, 1, 2])),
    seeded("orderlist-one-based", "bio-cells-mitosis-order", False, **_array([1, 2, 3, 4])),
    seeded("orderlist-strings", "bio-cells-mitosis-order", False, **_array(["0", "1", "2", "3"])),
    seeded("orderlist-float", "bio-cells-mitosis-order", False, **_array([0.0, 1, 2, 3])),
    seeded("orderlist-empty", "bio-cells-mitosis-order", False, **_array([])),
    # gridded: "the number entered, including . as the decimal point".
    seeded("gridded-decimal", "alg-linear-grid", True, **_string("12.5")),
    seeded("gridded-leading-point", "alg-linear-grid", True, **_string(".5")),
    seeded("gridded-trailing-point", "alg-linear-grid", True, **_string("12.")),
    seeded("gridded-signed", "alg-linear-grid", True, **_string("-3")),
    seeded("gridded-leading-zeros", "alg-linear-grid", True, **_string("007")),
    seeded("gridded-comma", "alg-linear-grid", False, **_string("12,5")),
    seeded("gridded-point-only", "alg-linear-grid", False, **_string(".")),
    seeded("gridded-empty", "alg-linear-grid", False, **_string("")),
    seeded("gridded-fraction-without-slash-column", "alg-linear-grid", False, **_string("1/2")),
    seeded("gridded-exponent", "alg-linear-grid", False, **_string("1e3")),
    seeded("gridded-padded", "alg-linear-grid", False, **_string(" 12")),
    seeded("gridded-newline", "alg-linear-grid", False, **_string("12.5\n")),
    seeded("gridded-arabic-digits", "alg-linear-grid", False, **_string("١٢")),
    seeded("gridded-number", "alg-linear-grid", False, **_string(12.5)),
    seeded("gridded-type-array", "alg-linear-grid", False, **_array(["12.5"])),
    # formulaV2: URL-encoded, "+" for spaces.
    seeded("formula-encoded", "alg-linear-slope", True, **_string("%5Cfrac%7B3%7D%7B4%7D")),
    seeded("formula-plus-sign-escaped", "alg-linear-slope", True, **_string("x+%2B+1")),
    seeded("formula-star-left-as-is", "alg-linear-slope", True, **_string("x*y")),
    seeded("formula-tilde-escaped", "alg-linear-slope", True, **_string("x%7Ey")),
    seeded("formula-raw-spaces", "alg-linear-slope", False, **_string("x + 1")),
    seeded("formula-raw-latex", "alg-linear-slope", False, **_string("\\frac{3}{4}")),
    seeded("formula-space-as-%20", "alg-linear-slope", False, **_string("x%20%2B%201")),
    seeded("formula-broken-escape", "alg-linear-slope", False, **_string("50%")),
    seeded("formula-number", "alg-linear-slope", False, **_string(3)),
    # shorttext: URL-encoded, characterCount of the decoded text.
    seeded("shorttext-words", "bio-cells-process", True, **_string("photo+synthesis", characterCount=15)),
    seeded("shorttext-accent", "bio-cells-process", True, **_string("caf%C3%A9", characterCount=4)),
    seeded("shorttext-lowercase-escape", "bio-cells-process", True, **_string("caf%c3%a9", characterCount=4)),
    seeded("shorttext-emoji-code-points", "bio-cells-process", True,
           **_string("%F0%9F%98%80", characterCount=1)),
    seeded("shorttext-emoji-utf16-units", "bio-cells-process", True,
           **_string("%F0%9F%98%80", characterCount=2)),
    seeded("shorttext-unattempted", "geo-capitals-japan", True, **_string(None)),
    seeded("shorttext-emoji-miscounted", "bio-cells-process", False,
           **_string("%F0%9F%98%80", characterCount=3)),
    seeded("shorttext-raw-space", "bio-cells-process", False,
           **_string("photo synthesis", characterCount=15)),
    seeded("shorttext-latin1-escape", "bio-cells-process", False, **_string("caf%E9", characterCount=4)),
    seeded("shorttext-miscounted", "bio-cells-process", False,
           **_string("photo+synthesis", characterCount=16)),
    seeded("shorttext-no-count", "bio-cells-process", False, **_string("photo+synthesis")),
    seeded("shorttext-count-as-string", "bio-cells-process", False,
           **_string("photo+synthesis", characterCount="15")),
    seeded("shorttext-count-true", "bio-cells-process", False, **_string("a", characterCount=True)),
    seeded("shorttext-count-float", "bio-cells-process", False,
           **_string("photo+synthesis", characterCount=15.0)),
    seeded("shorttext-array", "bio-cells-process", False, **_string(["photosynthesis"], characterCount=14)),
    # plaintext, longtext, longtextV2: URL-encoded, wordCount of the decoded text.
    seeded("plaintext-words", "eng-reading-summary", True, **_string("cells+divide+by+mitosis", wordCount=4)),
    seeded("plaintext-extra-spaces", "eng-reading-summary", True, **_string("+two++spaces+", wordCount=2)),
    seeded("plaintext-markup-is-text", "eng-reading-summary", True,
           **_string("%3Cb%3Ebold%3C%2Fb%3E+words", wordCount=2)),
    seeded("plaintext-miscounted", "eng-reading-summary", False, **_string("cells+divide", wordCount=5)),
    seeded("plaintext-no-count", "eng-reading-summary", False, **_string("cells+divide")),
    seeded("plaintext-count-float", "eng-reading-summary", False, **_string("upsy+daisy", wordCount=2.0)),
    seeded("longtextV2-paragraph", "bio-cells-essay", True,
           **_string("%3Cp%3Ecells+divide%3C%2Fp%3E+by+mitosis", wordCount=4)),
    seeded("longtextV2-tags-separate", "bio-cells-essay", True,
           **_string("%3Cp%3Ea%3C%2Fp%3E%3Cp%3Eb%3C%2Fp%3E", wordCount=2)),
    seeded("longtextV2-entity", "bio-cells-essay", True, **_string("a+%26amp%3B+b", wordCount=3)),
    seeded("longtextV2-inline-tag-splits", "bio-cells-essay", True,
           **_string("un%3Cb%3Ebeliev%3C%2Fb%3Eable", wordCount=3)),
    seeded("longtextV2-inline-tag-joins", "bio-cells-essay", True,
           **_string("un%3Cb%3Ebeliev%3C%2Fb%3Eable", wordCount=1)),
    seeded("longtextV2-miscounted", "bio-cells-essay", False,
           **_string("un%3Cb%3Ebeliev%3C%2Fb%3Eable", wordCount=4)),
    seeded("longtextV2-type-array", "bio-cells-essay", False, **_array("cells"), wordCount=1),
    seeded("longtext-letter", "eng-reading-letter", True,
           **_string("%3Cp%3EDear+author%3C%2Fp%3E", wordCount=2)),
    seeded("longtext-no-count", "eng-reading-letter", False, **_string("%3Cp%3EDear+author%3C%2Fp%3E")),
    seeded("longtext-raw-html", "eng-reading-letter", False, **_string("<p>Dear author</p>", wordCount=2)),
    # Question objects as Learnosity writes them, not as the seed does.
    reshaped("item-json-mcq", "bio-cells-organelle", "item", True, **_array(["2"])),
    reshaped("item-json-mcq-not-an-option", "bio-cells-organelle", "item", False, **_array(["7"])),
    reshaped("response-id-shorttext", "bio-cells-process", "response_id", True,
             **_string("photo+synthesis", characterCount=15)),
    reshaped("template-markers-all-boxes", "geo-capitals-rivers", "markers", True,
             **_array(["Seine", "Thames"])),
    reshaped("template-markers-too-few", "geo-capitals-rivers", "markers", False, **_array(["Seine"])),
]
# fmt: on


def _session(**changes: Any) -> dict[str, Any]:
    session: dict[str, Any] = {
        "session_id": "cb6ffc66-8fdb-4beb-a712-cffc31725e57",
        "user_id": "student-00007",
        "activity_id": "demo-biology-cells-u3",
        "dt_saved": "2026-03-01T09:30:00+00:00",
        "responses": {
            question_id("bio-cells-organelle"): {
                "value": ["2"],
                "type": "array",
                "apiVersion": "v2.197.0",
                "revision": 1,
            }
        },
    }
    return {**session, **changes}


DROP = object()  # a field `_with_response` removes


def _with_response(**fields: Any) -> dict[str, Any]:
    """A session whose one response has these fields changed or, given DROP, removed."""
    session = _session()
    (response,) = session["responses"].values()
    response.update(fields)
    for field in [f for f, v in fields.items() if v is DROP]:
        del response[field]
    return session


def _without(field: str) -> dict[str, Any]:
    return {k: v for k, v in _session().items() if k != field}


def _blob(doc: Any) -> str:
    return base64.b64encode(json.dumps(doc).encode()).decode()


def _unpadded() -> str:
    """A valid session's blob whose padding is stripped (the user id is chosen so there is some)."""
    blob = next(b for b in (_blob(_session(user_id="s" * n)) for n in range(1, 4)) if b.endswith("="))
    return blob.rstrip("=")


def _urlsafe() -> str:
    """A valid session in the URL-safe alphabet (the value is chosen so that `-` or `_` appear)."""
    for n in range(1, 4):
        raw = json.dumps(_with_response(type="string", value="?>" * 8 + "~" * n)).encode()
        if base64.urlsafe_b64encode(raw) != base64.b64encode(raw):
            return base64.urlsafe_b64encode(raw).decode()
    raise AssertionError("no URL-safe character in the encoding")


def _wrapped(blob: str) -> str:
    return "\r\n".join(blob[i : i + 76] for i in range(0, len(blob), 76))


# The documented contract for a blob is its envelope alone: base64 of a JSON object. What is inside
# is not documented, so every case below with a sound envelope is valid, whatever its inner shape.
BLOB_CASES: dict[str, tuple[str, bool]] = {
    "blob-full": (_blob(_session()), True),
    "blob-no-dt-saved": (_blob(_without("dt_saved")), True),
    "blob-null-dt-saved": (_blob(_session(dt_saved=None)), True),
    "blob-naive-dt-saved": (_blob(_session(dt_saved="2026-03-01T09:30:00")), True),
    "blob-unattempted": (_blob(_with_response(value=None)), True),
    "blob-text-with-counts": (
        _blob(_with_response(type="string", value="Zürich", characterCount=6, wordCount=1)),
        True,
    ),
    "blob-formula-boxes": (_blob(_with_response(value=[["6x+3"]], responses=[["6x+3"]])), True),
    "blob-extra-fields": (
        _blob({**_with_response(resetState="attemptedAfterReset"), "meta": {"a": 1}}),
        True,
    ),
    "blob-line-wrapped": (_wrapped(_blob(_session(user_id="x" * 200))), True),
    "blob-uppercase-uuid": (_blob(_session(session_id="CB6FFC66-8FDB-4BEB-A712-CFFC31725E57")), True),
    "blob-over-5-mib": (_blob(_with_response(type="string", value="x" * (5 * 1024 * 1024))), True),
    "blob-empty-object": (_blob({}), True),
    "blob-no-user": (_blob(_without("user_id")), True),
    "blob-short-session-id": (_blob(_session(session_id="12345")), True),
    "blob-bad-dt-saved": (_blob(_session(dt_saved="yesterday")), True),
    "blob-no-responses": (_blob(_without("responses")), True),
    "blob-responses-list": (_blob(_session(responses=[{"value": ["2"]}])), True),
    "blob-response-type-object": (_blob(_with_response(type="object", value={"x": 1})), True),
    "blob-no-api-version": (_blob(_with_response(apiVersion=DROP)), True),
    "blob-revision-0": (_blob(_with_response(revision=0)), True),
    "blob-empty": ("", False),
    "blob-whitespace": (" \r\n", False),
    "blob-not-base64": ("not base64!", False),
    "blob-unpadded": (_unpadded(), False),
    "blob-urlsafe-alphabet": (_urlsafe(), False),
    "blob-not-utf8": (base64.b64encode(b"\xff\xfe").decode(), False),
    "blob-not-json": (base64.b64encode(b"{session").decode(), False),
    "blob-nan": (base64.b64encode(b'{"session_id": NaN}').decode(), False),
    "blob-json-array": (_blob([_session()]), False),
    "blob-json-string": (_blob("session"), False),
    "blob-json-null": (_blob(None), False),
}

_IDS = ("cb6ffc66-8fdb-4beb-a712-cffc31725e57", "student-00007", "demo-biology-cells-u3")
# Session data in the shapes it plausibly takes, and the (session, user, activity) it names (None:
# it does not name all three, so there is nothing to store it under).
IDENTITY_CASES: dict[str, tuple[dict[str, Any], tuple[str, str, str] | None]] = {
    "identity-top-level": (_session(), _IDS),
    "identity-camel-case": (
        {"sessionId": _IDS[0], "userId": _IDS[1], "activityId": _IDS[2], "responses": {}},
        _IDS,
    ),
    "identity-in-session": ({"session": {k: v for k, v in _session().items()}}, _IDS),
    "identity-nested-meta-activity": (
        {"meta": {"user_id": _IDS[1], "activity": {"reference": _IDS[2]}}, "session": {"id": _IDS[0]}},
        _IDS,
    ),
    "identity-items-api-request": (
        {"request": {"session_id": _IDS[0], "user": {"id": _IDS[1]}, "activityId": _IDS[2]}},
        _IDS,
    ),
    "identity-own-objects": (
        {"session": {"id": "s-1"}, "user": {"id": "u-1"}, "activity": {"id": "a-1"}},
        ("s-1", "u-1", "a-1"),
    ),
    "identity-any-session-string": (_session(session_id="session-42"), ("session-42", *_IDS[1:])),
    "identity-blank-gives-way": (
        {**_session(session_id="  "), "session": {"sessionId": "s-2"}},
        ("s-2", *_IDS[1:]),
    ),
    "identity-top-level-wins": ({**_session(), "meta": {"user_id": "other"}}, _IDS),
    "identity-no-user": (_without("user_id"), None),
    "identity-numeric-user": (_session(user_id=42), None),
    "identity-three-levels-down": ({"session": {"meta": {"data": dict(_session())}}}, None),
    "identity-unknown-container": ({"payload": dict(_session())}, None),
    "identity-nothing": ({}, None),
    "identity-session-id-over-64": (_session(session_id="s" * 65), ("s" * 65, *_IDS[1:])),
}
IDENTITY_DIFFERS: dict[str, str] = {
    "identity-session-id-over-64": (
        "the client keys its ledger by session id in 64 characters, so it sends a longer one by its "
        "content instead; the API documents no length"
    ),
}

_CANONICAL = (
    "the client sends and accepts only its own canonical encoding (Python's quote_plus), so that what it "
    "reads back compares byte for byte; the docs ask only for URL-encoding with '+' for spaces, and "
    "other encoders escape or keep these characters differently"
)
_INTEGER_COUNT = (
    "the client compares counts with ==, so JSON true and 15.0 pass as 1 and 15; the docs type the "
    "counts as integers"
)
# Case name -> why the client's verdict is the opposite of the documented one.
CLIENT_DIFFERS: dict[str, str] = {
    "clozeformula-empty-formula-list": (
        "the docs say 'arrays of one or more full formulas' (as for choicematrix, where the client "
        "does require one or more); the client accepts an empty one"
    ),
    "formula-star-left-as-is": _CANONICAL,
    "formula-tilde-escaped": _CANONICAL,
    "shorttext-lowercase-escape": _CANONICAL,
    "shorttext-emoji-utf16-units": (
        "the client counts Unicode code points only; the docs do not define a character, and a "
        "browser (where Learnosity counts) gives JavaScript string length, UTF-16 units"
    ),
    "shorttext-count-true": _INTEGER_COUNT,
    "shorttext-count-float": _INTEGER_COUNT,
    "plaintext-count-float": _INTEGER_COUNT,
    "choicematrix-two-in-a-stem": (
        "the client reads a choicematrix without `multiple_responses` as Learnosity's default (false): "
        "one option per stem; the docs' 'one or more integers' holds only when the question allows "
        "several, and the emulator does not read the setting"
    ),
    "longtextV2-inline-tag-joins": (
        "the client counts every tag as a word break; the docs do not say how markup splits words, "
        "and an inline tag inside a word ('un<b>believ</b>able') does not split it on screen"
    ),
    "blob-over-5-mib": (
        "the client refuses to replay a blob decoding to more than 5 MiB, on purpose, against "
        "corrupt warehouse rows; the API documents no size limit"
    ),
}


def _emulator_accepts_response(case: ResponseCase) -> bool:
    try:
        check_response(questions_in(case.template), case.response)
    except Rejected:
        return False
    return True


def _client_accepts_response(case: ResponseCase) -> bool:
    return client_check_response(find_questions(case.template), case.response) is None


def _emulator_accepts_blob(blob: str) -> bool:
    try:
        read_envelope(blob)
    except Rejected:
        return False
    return True


def _client_accepts_blob(blob: str) -> bool:
    try:
        decode_document(blob)
    except BlobError:
        return False
    return True


def _emulator_identity(doc: dict[str, Any]) -> tuple[str, str, str] | None:
    try:
        session = decode_blob(_blob(doc))
    except Rejected as exc:
        assert exc.code == "missing_identity"
        return None
    return session.session_id, session.user_id, session.activity_id


def _client_identity(doc: dict[str, Any]) -> tuple[str, str, str] | None:
    session = decode_failed_session(_blob(doc))
    if session.session_id is None or session.user_id is None or session.activity_id is None:
        return None
    return session.session_id, session.user_id, session.activity_id


def _client_verdict(name: str, valid: bool) -> bool:
    return valid != (name in CLIENT_DIFFERS)


@pytest.mark.parametrize("case", RESPONSE_CASES, ids=lambda c: c.name)
def test_response_verdicts(case: ResponseCase) -> None:
    assert _emulator_accepts_response(case) is case.valid
    assert _client_accepts_response(case) is _client_verdict(case.name, case.valid), CLIENT_DIFFERS.get(
        case.name, "an unlisted disagreement"
    )


@pytest.mark.parametrize("name", list(BLOB_CASES))
def test_blob_verdicts(name: str) -> None:
    blob, valid = BLOB_CASES[name]
    assert _emulator_accepts_blob(blob) is valid
    assert _client_accepts_blob(blob) is _client_verdict(name, valid), CLIENT_DIFFERS.get(
        name, "an unlisted disagreement"
    )


@pytest.mark.parametrize("name", list(IDENTITY_CASES))
def test_identity_verdicts(name: str) -> None:
    doc, names = IDENTITY_CASES[name]
    assert _emulator_identity(doc) == names
    client = _client_identity(doc)
    if name in IDENTITY_DIFFERS:
        assert client != names, "a listed disagreement has gone away"
    else:
        assert client == names, "an unlisted disagreement"


def test_both_store_the_responses_of_every_identified_shape() -> None:
    for name, (doc, names) in IDENTITY_CASES.items():
        if names is None or name in IDENTITY_DIFFERS:
            continue
        client = decode_failed_session(_blob(doc)).responses
        assert set(decode_blob(_blob(doc)).responses) == set(client), name


def test_the_corpus_covers_every_type_both_ways_and_names_only_its_own_cases() -> None:
    names = [c.name for c in RESPONSE_CASES] + list(BLOB_CASES)
    assert len(names) == len(set(names))
    assert set(CLIENT_DIFFERS) <= set(names)
    assert set(IDENTITY_DIFFERS) <= set(IDENTITY_CASES)
    seeded_types = {qid: q.type for t in TEMPLATES.values() for qid, q in questions_in(t).items()}
    verdicts = {
        (seeded_types[c.response["question_id"]], c.valid)
        for c in RESPONSE_CASES
        if c.response.get("question_id") in seeded_types
    }
    assert verdicts == {(t, v) for t in SUPPORTED_TYPES for v in (True, False)}


@pytest.mark.parametrize("activity_id", sorted(TEMPLATES))
def test_both_find_the_same_questions_in_the_seed(activity_id: str) -> None:
    template = TEMPLATES[activity_id]
    assert {qid: q.type for qid, q in questions_in(template).items()} == {
        qid: q.type for qid, q in find_questions(template).items()
    }
