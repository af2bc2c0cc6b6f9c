"""Checks the sessions of a `SET /sessions` job, one by one, into writes and per-session errors.

Response rules are not restated here: `from_template` responses go through
`learnosity_core.responses.check_response` against the questions `find_questions` finds in the
request's template, and `failed_submission` blobs through `decode_failed_session`. What is
added is what only makes sense for a whole session or request: identity, UUID session ids,
one response per question, and a session id at most once per request. A failed submission
names no question types; when its activity is a seeded one, the types are taken from there.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from learnosity_core.emulator.models import ResponseWrite, SessionError, SessionWrite
from learnosity_core.emulator.payloads import SetSessions
from learnosity_core.emulator.seed import demo_templates
from learnosity_core.failed_submission import (
    INVALID_RESPONSE,
    INVALID_SESSION_ID,
    MISSING_IDENTITY,
    MISSING_RESPONSES,
    BlobError,
    decode_failed_session,
    is_session_id,
)
from learnosity_core.responses import check_response
from learnosity_core.template import TemplateQuestion, find_questions

DUPLICATE_QUESTION: Final = "duplicate_question"
DUPLICATE_SESSION: Final = "duplicate_session"
# The Questions API version stamped on responses created from a template (they carry none).
TEMPLATE_API_VERSION: Final = "v2.197.0"
_STORED_FIELDS: Final = ("value", "type", "characterCount", "wordCount", "responses")

Checked = SessionWrite | SessionError


class _Invalid(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _text(entry: Mapping[str, Any], field: str) -> str | None:
    value = entry.get(field)
    return value if isinstance(value, str) else None


def _error(index: int, entry: Mapping[str, Any], code: str, message: str) -> SessionError:
    return SessionError(
        index=index,
        session_id=_text(entry, "session_id"),
        user_id=_text(entry, "user_id"),
        activity_id=_text(entry, "activity_id"),
        code=code,
        message=message,
    )


def _check_identity(entry: Mapping[str, Any]) -> None:
    missing = [f for f in ("session_id", "user_id", "activity_id") if not str(entry.get(f) or "").strip()]
    if missing:
        raise _Invalid(MISSING_IDENTITY, f"needs a non-empty string for {', '.join(missing)}")
    if not all(isinstance(entry[f], str) for f in ("user_id", "activity_id")):
        raise _Invalid(MISSING_IDENTITY, "user_id and activity_id must be strings")
    if not is_session_id(entry["session_id"]):
        raise _Invalid(INVALID_SESSION_ID, f"session_id {entry['session_id']!r} is not a UUID")


def _template_response(
    position: int, obj: Any, questions: Mapping[str, TemplateQuestion], seen: set[str]
) -> ResponseWrite:
    where = f"responses[{position}]"
    if not isinstance(obj, Mapping):
        raise _Invalid(INVALID_RESPONSE, f"{where} must be an object")
    problem = check_response(questions, obj)
    if problem is not None:
        raise _Invalid(problem.code, f"{where}: {problem.message}")
    question_id = obj["question_id"]
    if question_id in seen:
        raise _Invalid(DUPLICATE_QUESTION, f"{where}: question {question_id} is answered more than once")
    seen.add(question_id)
    revision = obj.get("revision", 1)
    if not isinstance(revision, int) or isinstance(revision, bool) or revision < 1:
        raise _Invalid(INVALID_RESPONSE, f"{where}: revision must be an integer >= 1")
    stored = {f: obj[f] for f in _STORED_FIELDS if f in obj}
    stored.update(apiVersion=TEMPLATE_API_VERSION, revision=revision)
    return ResponseWrite(
        response_id=question_id, question_type=questions[question_id].type, revision=revision, response=stored
    )


def _template_session(
    index: int, entry: Mapping[str, Any], questions: Mapping[str, TemplateQuestion]
) -> SessionWrite:
    _check_identity(entry)
    responses = entry.get("responses")
    if not isinstance(responses, list) or not responses:
        raise _Invalid(MISSING_RESPONSES, "responses must be a non-empty array")
    seen: set[str] = set()
    writes = [_template_response(i, obj, questions, seen) for i, obj in enumerate(responses)]
    return SessionWrite(
        index=index,
        session_id=entry["session_id"],
        user_id=entry["user_id"],
        activity_id=entry["activity_id"],
        num_questions=len(questions),
        responses=writes,
    )


def _epoch(iso: str | None) -> float | None:
    if iso is None:
        return None
    moment = datetime.fromisoformat(iso)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _failed_session(index: int, blob: str, known: Mapping[str, Mapping[str, TemplateQuestion]]) -> Checked:
    try:
        session = decode_failed_session(blob)
    except BlobError as exc:
        return SessionError(
            index=index, session_id=None, user_id=None, activity_id=None, code=exc.code, message=exc.message
        )
    questions = known.get(session.activity_id, {})
    return SessionWrite(
        index=index,
        session_id=session.session_id,
        user_id=session.user_id,
        activity_id=session.activity_id,
        num_questions=len(questions) or len(session.responses),
        dt_saved=_epoch(session.dt_saved),
        responses=[
            ResponseWrite(
                response_id=qid,
                question_type=questions[qid].type if qid in questions else None,
                revision=r.revision,
                response=r.model_dump(exclude_unset=True),
            )
            for qid, r in session.responses.items()
        ],
    )


def _without_duplicates(checked: Sequence[Checked]) -> tuple[list[SessionWrite], list[SessionError]]:
    """Every entry of a session id sent twice in one request is rejected: which one wins is unknowable."""
    counts = Counter(c.session_id for c in checked if c.session_id is not None)
    writes: list[SessionWrite] = []
    errors: list[SessionError] = []
    for c in checked:
        if isinstance(c, SessionError):
            errors.append(c)
        elif counts[c.session_id] > 1:
            errors.append(
                SessionError(
                    index=c.index,
                    session_id=c.session_id,
                    user_id=c.user_id,
                    activity_id=c.activity_id,
                    code=DUPLICATE_SESSION,
                    message=f"session {c.session_id} appears {counts[c.session_id]} times in this request",
                )
            )
        else:
            writes.append(c)
    return writes, errors


def check_sessions(request: SetSessions) -> tuple[list[SessionWrite], list[SessionError]]:
    """The sessions of a request that may be stored, and why each of the others may not."""
    checked: list[Checked] = []
    if request.data_format == "from_template":
        questions = find_questions(request.template or {})
        for index, entry in enumerate(request.data):
            try:
                checked.append(_template_session(index, entry, questions))
            except _Invalid as exc:
                checked.append(_error(index, entry, exc.code, exc.message))
    else:
        known = {activity: find_questions(t) for activity, t in demo_templates().items()}
        checked = [_failed_session(index, blob, known) for index, blob in enumerate(request.data)]
    return _without_duplicates(checked)
