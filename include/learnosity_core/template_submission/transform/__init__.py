"""Warehouse response rows to `from_template` session entries, holding back whatever would be wrong.

Source contract: a table or view (default `learnosity_responses`), one row per learner per question.

- `user_id`, `activity_id`, `question_id`: required text (an empty value quarantines the row).
- `session_id`: optional UUID (canonical 8-4-4-4-12 hex form), kept exactly as given; a value
  that is not a UUID quarantines the session. When empty, the session id is derived: UUIDv5
  under `SESSION_NAMESPACE` (9b9f719d-ae1e-5f67-9f12-8e25e40a95b5) of the name
  `activity_id + chr(31) + user_id`, plus `chr(31) + attempt` when an `attempt` column has a
  value, so the same learner and activity (and attempt) get the same session on every run and
  machine (`derive_session_id`). Each row's session is its own `session_id`, so a learner whose
  rows mix given and empty session ids has two sessions.
- `attempt`: optional; only used to derive the session id.
- `response`: the learner's raw response; NULL means unattempted (`value: null`, no counts).
  String types (formulaV2, gridded, longtext, longtextV2, plaintext, shorttext): the text exactly
  as the learner wrote it, not URL-encoded ('' is an empty answer, not an unattempted one).
  Array types: JSON, e.g. `["0","2"]` (mcq, association, clozetext, clozeinlinetext: strings,
  null for an unanswered slot), `[[0,1],[0]]` (choicematrix), `[3,1,0,2]` (orderlist),
  `[["x+1"]]` (clozeformula); the JSON text `null` also means unattempted.
- `response_boxes`: JSON array of arrays of strings, clozeformula only and required there when
  the response is not NULL; empty or NULL on every other row.
- `updated_at`: optional timestamp (naive means UTC); used for incremental runs and to settle
  duplicates.
- `question_type`: optional; when given it must equal the template's type for the question.
- `row_id`: optional; names rows in the quarantine (else rows are numbered 1, 2, ... in input order).
Non-text cells (UUID objects, numeric ids) are read as text. Template questions without a row
are left out of the session rather than sent as unattempted.

Rules per question type (the question's type comes from the template; `type` is "array" or
"string" per `question_types.RESPONSE_KIND`):
- formulaV2, longtext, longtextV2, plaintext, shorttext: `value` is the raw text URL-encoded
  with `+` for spaces, nothing trimmed or normalised (decoding gives back the exact text).
  shorttext adds `characterCount` (characters of the raw text); longtext, longtextV2 and
  plaintext add `wordCount` (whitespace-separated words of the visible text; in longtext and
  longtextV2 markup is not a word and tags separate words).
- gridded: the number as entered, `.` as the decimal point, within what the question's grid
  settings allow where it states them (width, digit range, sign, decimal point, fraction slash:
  `content.gridded`); anything else is invalid.
- mcq: array of one or more option values, exactly one unless `multiple_responses`.
- association, clozetext, clozeinlinetext: array of strings, one per slot (stimulus or
  `{{response}}` box), null where a slot is unanswered; where the template defines the possible
  responses, every value must be one of them.
- choicematrix: array of arrays of integers (or null), one entry per stem, every index a valid
  option, one index per stem unless `multiple_responses`.
- orderlist: a permutation of the indices of the template's list.
- clozeformula: `value` and `responses` (from response_boxes), both arrays of arrays of strings,
  one response box per `{{response}}` marker.
Text longer than the question's `max_length` is sent as written and counted as a warning
(`over_max_length`) in `TransformResult.warnings`. What the template states is read by
`content.questions.read_template`.
Responses appear in the template's question order; each entry is compact JSON with keys
`user_id`, `activity_id`, `session_id`, `responses`.

What is held back: a session is sent whole or not at all. A row with a text value the warehouse
could not decode (`invalid_encoding`, see `delivery.warehouse.read_bad_bytes_as_text`), an empty
required field,
an invalid session id or timestamp, an unknown activity (no template) or question, a
`question_type` that disagrees with the template, or an invalid value is quarantined with its
reason code, and every other row of its session too (`session_held_back`, naming the row that
caused it). Duplicate rows for one session and question: the latest `updated_at` wins (a missing
one counts as oldest) and the superseded rows count as part of the sent session (`row_count`);
rows tied at the latest time with different values quarantine the session
(`duplicate_conflict`). A given session id that another learner or activity already used in the
run, or owns in the delivery ledger, is `session_id_conflict` (the owner keeps it). Nothing is
dropped: rows in = sum of `row_count` over sent sessions + rows in the quarantine. Each
quarantine message names the row, the field and the reason, e.g. "row 17 (user u1, activity
a1, question q3): response: mcq value 'x' is not one of the question's options". Reason codes
are `REASONS`, warning codes `WARNINGS`; their meanings and next steps are in `reporting.reasons`.
"""

from learnosity_core.template_submission.transform.frame import (
    QUARANTINE_COLUMNS,
    SESSION_COLUMNS,
    WARNING_COLUMNS,
    SessionIdClaims,
    SourceContractError,
    TransformResult,
    transform_responses,
)
from learnosity_core.template_submission.transform.index import TemplateIndex
from learnosity_core.template_submission.transform.reasons import REASONS, WARNINGS
from learnosity_core.template_submission.transform.session_ids import (
    SESSION_NAMESPACE,
    derive_session_id,
    is_session_id,
)
from learnosity_core.template_submission.transform.stream import UnorderedInputError, transform_chunks

__all__ = [
    "QUARANTINE_COLUMNS",
    "REASONS",
    "SESSION_COLUMNS",
    "SESSION_NAMESPACE",
    "WARNINGS",
    "WARNING_COLUMNS",
    "SessionIdClaims",
    "SourceContractError",
    "TemplateIndex",
    "TransformResult",
    "UnorderedInputError",
    "derive_session_id",
    "is_session_id",
    "transform_chunks",
    "transform_responses",
]
