"""Every reason code a run can report, with what it means and what to do next: one table, so a
report reader (and the quarantine CSV's reader) never meets a code nobody explained.

The codes are emitted by `template_submission.transform` and `content.responses` (rows),
`failed_submission.blob` (blobs), `failed_submission.landing` (files left in place) and
`delivery` (sessions that failed or were rejected: free text, recognised by its wording).
`missing_responses` is the only code two pipelines share, with two meanings: hence one table
per data format.
"""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel, ConfigDict


class Reason(BaseModel):
    """One code as the report explains it."""

    model_config = ConfigDict(frozen=True)

    code: str
    meaning: str
    next_step: str


def _table(*rows: tuple[str, str, str]) -> dict[str, Reason]:
    return {code: Reason(code=code, meaning=meaning, next_step=step) for code, meaning, step in rows}


_FIX_AND_RERUN = (
    "Correct the row in the warehouse (its updated_at moves it into the next window) or run again"
)

# from_template rows: quarantine reasons (a row held back) and warnings (a row sent as written).
ROW_REASONS: Final = _table(
    (
        "invalid_encoding",
        "A text value was not valid UTF-8 in the warehouse; its bytes are lost.",
        "Fix the encoding of the export or the source table, then reload the row.",
    ),
    (
        "missing_field",
        "user_id, activity_id or question_id is empty or blank.",
        f"Fill the field named in the CSV's message. {_FIX_AND_RERUN}.",
    ),
    (
        "invalid_session_id",
        "session_id is given but is not a UUID, as Learnosity requires.",
        "Give the row a UUID session_id, or leave it empty: the uploader derives a stable one.",
    ),
    (
        "invalid_timestamp",
        "updated_at or loaded_at is given but is not a timestamp.",
        "Write an ISO-8601 time (or leave loaded_at empty) in the named field.",
    ),
    (
        "unknown_activity",
        "The activity has no session template in Learnosity.",
        "Create the activity (or map it in Variable learnosity_template_map), then run again.",
    ),
    (
        "unknown_question",
        "The question is not in the activity's template.",
        "Check the question_id against the activity in Learnosity; a changed activity needs its"
        " rows re-exported.",
    ),
    (
        "type_conflict",
        "question_type disagrees with the template's type for this question.",
        "Fix question_type in the export, or the question in Learnosity if the template changed.",
    ),
    (
        "wrong_kind",
        "The response is a string where the question type needs an array, or the other way round.",
        "Export the response in the question type's format (see the README's response formats).",
    ),
    (
        "invalid_value",
        "The response (or response_boxes) breaks the question type's rules, e.g. an option that"
        " does not exist.",
        f"Read the CSV's message for the field and rule. {_FIX_AND_RERUN}.",
    ),
    (
        "not_encoded",
        "A text value sent is not URL-encoded with '+' for spaces, as Learnosity expects.",
        "The uploader encodes the learner's text itself: report it as a bug, with the session id.",
    ),
    (
        "count_mismatch",
        "characterCount or wordCount sent disagrees with the text.",
        "The uploader counts the learner's text itself: report it as a bug, with the session id.",
    ),
    (
        "missing_responses",
        "A clozeformula response lacks valid response_boxes.",
        "Export response_boxes as an array of arrays of strings for clozeformula questions.",
    ),
    (
        "duplicate_conflict",
        "Rows of the same session and question share the latest updated_at but differ.",
        "Keep one row per session and question in the warehouse, or give the newer one a later updated_at.",
    ),
    (
        "session_id_conflict",
        "The session_id already belongs to another learner or activity (in this run or the ledger);"
        " its owner's session is never touched.",
        "Give this row its own session_id; a session is one learner's attempt at one activity.",
    ),
    (
        "session_held_back",
        "The row is fine, but another row of its session is quarantined; a session is sent whole.",
        "Fix the other row (its reason is in the CSV's message); this one goes with it.",
    ),
    (
        "over_max_length",
        "Warning only: the answer is longer than the question's max_length; it was sent as written.",
        "Nothing to fix: a paper answer is what the learner wrote. Review it when scoring.",
    ),
)

_ASK_AGAIN = "Ask the learner or school for the string again (copied whole from the failed-submission dialog)"

# failed_submission blobs: must checks (quarantined) and should checks (sent with a warning).
BLOB_REASONS: Final = _table(
    ("empty", "The file or table row holds no blob.", f"{_ASK_AGAIN}."),
    (
        "too_large",
        "The blob is larger than a session's blob can be (5 MiB decoded).",
        "Check the file is one blob and not something else dropped in the landing folder.",
    ),
    (
        "not_base64",
        "The text is not base64 (wrong characters or padding); it was never repaired on a guess.",
        f"{_ASK_AGAIN}; a truncated copy is the usual cause.",
    ),
    ("not_utf8", "The decoded bytes are not UTF-8 text.", f"{_ASK_AGAIN}."),
    ("not_json", "The decoded text is not JSON.", f"{_ASK_AGAIN}."),
    ("not_object", "The decoded JSON is not an object, so it holds no session.", f"{_ASK_AGAIN}."),
    (
        "missing_identity",
        "No session_id, user_id or activity_id was found in the blob; it was sent anyway (quarantined"
        " when strict) and Learnosity decides.",
        "If Learnosity rejects it, find the session from the school and replay a complete blob.",
    ),
    (
        "missing_responses",
        "No responses were found in the blob; it was sent anyway (quarantined when strict).",
        "Check with the learner whether anything was answered; an empty attempt needs no replay.",
    ),
    (
        "invalid_response",
        "A response object is not in the shape Questions API produces; sent anyway (quarantined"
        " when strict).",
        "Check the stored session in Learnosity after the run; read-back reports a difference.",
    ),
    (
        "invalid_dt_saved",
        "dt_saved is not an ISO-8601 time; sent anyway (quarantined when strict).",
        "Nothing to fix unless duplicates of the session must be ordered by save time.",
    ),
)

# Landing entries not taken by a replay: skipped ones never are, waiting ones are by a later run.
LANDING_REASONS: Final = _table(
    (
        "symlink",
        "A symbolic link: never followed, so nothing outside the folder is read.",
        "Copy the file in.",
    ),
    (
        "outside_root",
        "The entry resolves outside the landing location.",
        "Copy the file into the landing folder.",
    ),
    (
        "directory",
        "A folder: only files directly in the landing location are replayed.",
        "Move its files up.",
    ),
    ("special_file", "A device, FIFO or socket, not a file.", "Remove it from the landing folder."),
    ("hidden", "A hidden file (its name starts with a dot).", "Rename it if it is a blob to replay."),
    ("vanished", "The entry disappeared while the folder was read.", "Nothing, unless it should be there."),
    (
        "temporary_name",
        "A .part or .tmp file, still being copied.",
        "Nothing: the next run takes it once the copy renames it.",
    ),
    (
        "still_changing",
        "The file changed within the settle time, so it may still be written.",
        "Nothing: the next run takes it (Variable learnosity_failed_submissions_settle_s).",
    ),
    (
        "changed_while_read",
        "The file changed while this run read or moved it.",
        "Nothing: the next run takes it.",
    ),
)

_BY_FORMAT: Final = {"from_template": ROW_REASONS, "failed_submission": BLOB_REASONS}

# Why a session sent was not delivered: delivery's wording (error text) -> explanation. First match wins.
FAILURES: Final[tuple[tuple[str, Reason], ...]] = tuple(
    (marker, Reason(code=code, meaning=meaning, next_step=step))
    for marker, code, meaning, step in (
        (
            "staged but never submitted",
            "never_submitted",
            "Its submit task failed, so it was never sent.",
            "See the submit task's log; the next run sends it again.",
        ),
        (
            "outcome was never recorded",
            "outcome_unknown",
            "It was sent, but the job wait failed before the job's answer was recorded.",
            "The next run checks it again; nothing to fix unless it repeats.",
        ),
        (
            "halted",
            "job_halted",
            "Learnosity halted the job that carried it; nothing of the job was stored.",
            "The next run sends it again; if it halts again, read the halt reason with Learnosity support.",
        ),
        (
            "when the wait timed out",
            "job_timed_out",
            "Its job was still running when the wait gave up (LEARNOSITY_JOB_WAIT_MIN).",
            "The next run checks it; raise the wait limit if Learnosity is often this slow.",
        ),
        (
            "rejected by the Data API",
            "refused",
            "The Data API refused the request for a reason no retry can fix.",
            "Fix what the message names; the session is sent again only when its content changes.",
        ),
        (
            "read-back",
            "read_back_differs",
            "The job said stored, but reading the session back did not find it as sent.",
            "The next run sends it again; if it repeats, compare the session in Learnosity.",
        ),
        (
            "without storing",
            "not_stored",
            "The job completed without storing this session.",
            "Read the job's answer in the delivery history; fix the content and run again.",
        ),
        (
            "rejected this session",
            "rejected",
            "The job named this session as rejected.",
            "Fix what the message names; the session is sent again only when its content changes.",
        ),
    )
)


def explain(code: str, data_format: str = "from_template") -> Reason | None:
    """The explanation of a quarantine, warning or landing code, or None for an unknown one."""
    return _BY_FORMAT.get(data_format, {}).get(code) or LANDING_REASONS.get(code)


def explain_failure(error: str, data_format: str = "from_template") -> Reason | None:
    """The explanation of why a sent session was not delivered: a leading reason code (as
    Learnosity or the emulator answer, e.g. "invalid_value: ...") or delivery's own wording."""
    head = error.split(":", 1)[0].strip()
    if head and " " not in head and (reason := explain(head, data_format)) is not None:
        return reason
    return next((reason for marker, reason in FAILURES if marker in error), None)
