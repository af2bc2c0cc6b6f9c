"""The `request` field of each endpoint, checked as a whole before anything is stored.

Envelope problems are answered at once (20000 missing, 20002 too many, 20004 bad value, 20009
schema, the last with every problem listed); the contents of `sessions` entries are checked
later, inside the job, where each bad session is reported on its own. `meta` (SDK telemetry)
is accepted on every request and ignored; any other unknown field is a schema error, so a
client bug shows up here rather than in production.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Final, Literal

from pydantic import BaseModel

from learnosity_devtools.emulator.envelope import (
    INVALID_VALUE,
    MISSING_PARAMETER,
    SCHEMA_INVALID,
    TOO_MANY_PARAMETERS,
    ApiError,
)

MAX_SESSIONS: Final = 50
MAX_REFERENCES: Final = 1000
MAX_FILTER: Final = 1000
PAGE_LIMIT: Final = 50
DATA_FORMATS: Final = ("from_template", "failed_submission")
JOB_STATUSES: Final = ("queued", "running", "halted", "completed")
JOB_FIELDS: Final = ("reference", "type", "status", "dt_created", "dt_completed")
JOB_INCLUDE: Final = (*JOB_FIELDS, "data")
SESSION_STATUSES: Final = ("Incomplete", "Completed", "Discarded", "Pending Scoring")


class SetSessions(BaseModel):
    data_format: Literal["from_template", "failed_submission"]
    data: list[Any]
    template: dict[str, Any] | None = None
    ignore_response_revisions: bool = False


class JobsQuery(BaseModel):
    references: list[str]
    status: list[str] | None = None
    include_data: bool = False


class TemplateQuery(BaseModel):
    activity_template_id: str | None = None
    items: list[str] | None = None


class ResponsesQuery(BaseModel):
    session_id: list[str] | None = None
    user_id: list[str] | None = None
    activity_id: list[str] | None = None
    status: list[str] | None = None
    limit: int = PAGE_LIMIT
    after: int = 0  # the `next` cursor: sessions stored after this position


def _missing(names: str) -> ApiError:
    return ApiError(400, MISSING_PARAMETER, f"Missing mandatory parameter(s): {names}")


def _schema(errors: list[str]) -> ApiError:
    return ApiError(400, SCHEMA_INVALID, "JSON failed to validate against the schema: " + "; ".join(errors))


def _object(raw: str | None, allowed: set[str]) -> dict[str, Any]:
    """The request as a JSON object with only known fields (plus `meta`)."""
    if raw is None:
        return {}
    try:
        request = json.loads(raw)
    except ValueError as exc:
        raise _schema([f"request is not JSON ({exc})"]) from None
    if not isinstance(request, dict):
        raise _schema(["request must be a JSON object"])
    unknown = sorted(set(request) - allowed - {"meta"})
    if unknown:
        raise _schema([f"unsupported field(s) {unknown}"])
    return request


def _strings(request: dict[str, Any], field: str, limit: int, errors: list[str]) -> list[str] | None:
    value = request.get(field)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        errors.append(f"{field} must be an array of strings")
        return None
    if len(value) > limit:
        raise ApiError(
            400, TOO_MANY_PARAMETERS, f"Too many parameters: {field} takes at most {limit} entries"
        )
    return value


def parse_set_sessions(raw: str | None) -> SetSessions:
    request = _object(raw, {"data_format", "data", "template", "ignore_response_revisions"})
    data_format = request.get("data_format")
    if data_format is None:
        raise _missing("data_format")
    if data_format not in DATA_FORMATS:
        raise ApiError(
            400, INVALID_VALUE, f"Invalid data_format {data_format!r}: use one of {list(DATA_FORMATS)}"
        )
    if "data" not in request:
        raise _missing("data")
    if data_format == "from_template" and "template" not in request:
        raise _missing("template")
    data = request["data"]
    if not isinstance(data, list):
        raise _schema(["data must be an array"])
    if len(data) > MAX_SESSIONS:
        raise ApiError(
            400,
            TOO_MANY_PARAMETERS,
            f"Too many parameters: data has {len(data)} entries, at most {MAX_SESSIONS}",
        )
    errors = [] if data else ["data must contain at least one entry"]
    entry_type, entry_name = (
        (dict, "an object") if data_format == "from_template" else (str, "a base64 string")
    )
    errors += [f"data[{i}] must be {entry_name}" for i, e in enumerate(data) if not isinstance(e, entry_type)]
    if data_format == "from_template" and not isinstance(request["template"], dict):
        errors.append("template must be an object")
    if data_format == "failed_submission" and "template" in request:
        errors.append("template is only accepted with data_format from_template")
    if not isinstance(request.get("ignore_response_revisions", False), bool):
        errors.append("ignore_response_revisions must be a boolean")
    if errors:
        raise _schema(errors)
    return SetSessions.model_validate(request)


def parse_jobs_get(raw: str | None) -> JobsQuery:
    request = _object(raw, {"references", "status", "include"})
    if "references" not in request:
        raise _missing("references")
    errors: list[str] = []
    references = _strings(request, "references", MAX_REFERENCES, errors)
    status = _strings(request, "status", MAX_REFERENCES, errors)
    include = _strings(request, "include", MAX_REFERENCES, errors)
    if errors:
        raise _schema(errors)
    for field, values, allowed in (("status", status, JOB_STATUSES), ("include", include, JOB_INCLUDE)):
        bad = sorted(set(values or []) - set(allowed))
        if bad:
            raise ApiError(400, INVALID_VALUE, f"Invalid {field} value(s) {bad}: use {list(allowed)}")
    return JobsQuery(references=references or [], status=status, include_data="data" in (include or []))


def parse_templates_get(raw: str | None) -> TemplateQuery:
    request = _object(raw, {"activity_template_id", "items"})
    if "activity_template_id" not in request and "items" not in request:
        raise _missing("activity_template_id or items")
    errors: list[str] = []
    activity = request.get("activity_template_id")
    if activity is not None and not (isinstance(activity, str) and activity):
        errors.append("activity_template_id must be a non-empty string")
    items = _strings(request, "items", MAX_REFERENCES, errors)
    if "activity_template_id" in request and "items" in request:
        errors.append("send either activity_template_id or items, not both")
    if items is not None and not items:
        errors.append("items must not be empty")
    if errors:
        raise _schema(errors)
    return TemplateQuery(activity_template_id=activity, items=items)


def encode_cursor(position: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": position}).encode()).decode()


def _decode_cursor(cursor: Any) -> int | None:
    try:
        position = json.loads(base64.urlsafe_b64decode(cursor.encode()))["after"]
    except (AttributeError, binascii.Error, ValueError, TypeError, KeyError):
        return None
    return (
        position if isinstance(position, int) and not isinstance(position, bool) and position >= 0 else None
    )


def parse_responses_get(raw: str | None) -> ResponsesQuery:
    request = _object(raw, {"session_id", "user_id", "activity_id", "status", "limit", "next"})
    errors: list[str] = []
    filters = {f: _strings(request, f, MAX_FILTER, errors) for f in ("session_id", "user_id", "activity_id")}
    status = _strings(request, "status", MAX_FILTER, errors)
    limit = request.get("limit", PAGE_LIMIT)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        errors.append("limit must be a positive integer")
    after = 0
    if "next" in request:
        position = _decode_cursor(request["next"])
        if position is None:
            errors.append("next is not a cursor this endpoint returned")
        after = position or 0
    if errors:
        raise _schema(errors)
    bad = sorted(set(status or []) - set(SESSION_STATUSES))
    if bad:
        raise ApiError(400, INVALID_VALUE, f"Invalid status value(s) {bad}: use {list(SESSION_STATUSES)}")
    return ResponsesQuery(**filters, status=status, limit=min(limit, PAGE_LIMIT), after=after)
