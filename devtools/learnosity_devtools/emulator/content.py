"""Checks the sessions of a `SET /sessions` job, one by one, into writes and per-session errors.

Each rule lives in its own module: the questions a template holds (`questions`), a response
object against its question (`responses`), a failed-submission blob (`blobs`), whose session an
entry is (`identity`). Added here is what only makes sense for a whole session or request: one
response per question, a `revision` of at least 1, and a session id at most once per request. A
failed submission names no question types; when its activity is a seeded one, they are taken
from there, and its responses are stored as sent.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Final

from learnosity_devtools.emulator.blobs import decode_blob
from learnosity_devtools.emulator.codes import (
    DUPLICATE_QUESTION,
    DUPLICATE_SESSION,
    INVALID_RESPONSE,
    MISSING_RESPONSES,
    Rejected,
)
from learnosity_devtools.emulator.identity import check_identity
from learnosity_devtools.emulator.models import ResponseWrite, SessionError, SessionWrite
from learnosity_devtools.emulator.payloads import SetSessions
from learnosity_devtools.emulator.questions import Question, questions_in
from learnosity_devtools.emulator.responses import check_response
from learnosity_devtools.emulator.seed import served_templates

# The Questions API version stamped on responses created from a template (they carry none).
TEMPLATE_API_VERSION: Final = "v2.197.0"
_STORED_FIELDS: Final = ("value", "type", "characterCount", "wordCount", "responses")

Checked = SessionWrite | SessionError


def _text(entry: Mapping[str, Any], field: str) -> str | None:
    value = entry.get(field)
    return value if isinstance(value, str) else None


def _error(index: int, entry: Mapping[str, Any], rejected: Rejected) -> SessionError:
    return SessionError(
        index=index,
        session_id=_text(entry, "session_id"),
        user_id=_text(entry, "user_id"),
        activity_id=_text(entry, "activity_id"),
        code=rejected.code,
        message=rejected.message,
    )


def _template_response(
    position: int, obj: Any, questions: Mapping[str, Question], seen: set[str]
) -> ResponseWrite:
    where = f"responses[{position}]"
    if not isinstance(obj, Mapping):
        raise Rejected(INVALID_RESPONSE, f"{where} must be an object")
    try:
        question = check_response(questions, obj)
    except Rejected as exc:
        raise Rejected(exc.code, f"{where}: {exc.message}") from None
    if question.id in seen:
        raise Rejected(DUPLICATE_QUESTION, f"{where}: question {question.id} is answered more than once")
    seen.add(question.id)
    revision = obj.get("revision", 1)
    if not isinstance(revision, int) or isinstance(revision, bool) or revision < 1:
        raise Rejected(INVALID_RESPONSE, f"{where}: revision must be an integer >= 1")
    stored = {f: obj[f] for f in _STORED_FIELDS if f in obj}
    stored.update(apiVersion=TEMPLATE_API_VERSION, revision=revision)
    return ResponseWrite(
        response_id=question.id, question_type=question.type, revision=revision, response=stored
    )


def _template_session(
    index: int, entry: Mapping[str, Any], questions: Mapping[str, Question]
) -> SessionWrite:
    check_identity(entry)
    responses = entry.get("responses")
    if not isinstance(responses, list) or not responses:
        raise Rejected(MISSING_RESPONSES, "responses must be a non-empty array")
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


def _failed_session(index: int, blob: str, known: Mapping[str, Mapping[str, Question]]) -> Checked:
    try:
        session = decode_blob(blob)
    except Rejected as exc:
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
        dt_saved=session.saved_at,
        responses=[
            ResponseWrite(
                response_id=response_id,
                question_type=questions[response_id].type if response_id in questions else None,
                revision=session.revisions[response_id],
                response=response,
            )
            for response_id, response in session.responses.items()
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
        questions = questions_in(request.template or {})
        for index, entry in enumerate(request.data):
            try:
                checked.append(_template_session(index, entry, questions))
            except Rejected as exc:
                checked.append(_error(index, entry, exc))
    else:
        known = {activity: questions_in(t) for activity, t in served_templates().items()}
        checked = [_failed_session(index, blob, known) for index, blob in enumerate(request.data)]
    return _without_duplicates(checked)
