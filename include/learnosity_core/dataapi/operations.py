"""Request shapes and reply reading of each Data API operation, shared by the sync and async clients.

Multi-request operations (`jobs` over 1000 references, paged `sessions/responses`) are small
state machines: `next_call()` says what to send, `feed()` reads the envelope, so the clients'
loops are two lines each and the stop rules live here once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import TypeAdapter, ValidationError

from learnosity_core.dataapi.errors import BatchSizeError, DataApiError, DataApiValidationError
from learnosity_core.dataapi.exchange import Call
from learnosity_core.dataapi.limits import (
    MAX_JOB_REFERENCES_PER_GET,
    MAX_RESPONSES_PER_PAGE,
    MAX_SESSIONS_PER_SET,
)
from learnosity_core.dataapi.models import ALL_JOB_STATUSES, Envelope, Job, SessionRecord

PING_REFERENCE = "00000000-0000-0000-0000-000000000000"
JOB_FIELDS = ("reference", "type", "status", "dt_created", "dt_completed", "data")

_jobs = TypeAdapter(list[Job])
_records = TypeAdapter(list[SessionRecord])


def _entries(what: str, entries: Sequence[Any]) -> list[Any]:
    if not 1 <= len(entries) <= MAX_SESSIONS_PER_SET:
        raise BatchSizeError(
            f"a sessions set takes 1 to {MAX_SESSIONS_PER_SET} {what} per request, got {len(entries)}; "
            "split the batch"
        )
    return list(entries)


def _set_call(
    data_format: str, data: list[Any], ignore_response_revisions: bool | None, **fields: Any
) -> Call:
    request: dict[str, Any] = {"data_format": data_format, **fields, "data": data}
    if ignore_response_revisions is not None:  # sent only when the caller decided
        request["ignore_response_revisions"] = ignore_response_revisions
    return Call("sessions", "set", request)


def template_sessions_call(
    template: Mapping[str, Any],
    sessions: Sequence[Mapping[str, Any] | str],
    ignore_response_revisions: bool | None = None,
) -> Call:
    """`from_template` set; pre-serialised session JSON (from the transform) is embedded as objects."""
    data = [json.loads(s) if isinstance(s, str) else dict(s) for s in _entries("sessions", sessions)]
    return _set_call("from_template", data, ignore_response_revisions, template=dict(template))


def failed_sessions_call(blobs: Sequence[str], ignore_response_revisions: bool | None = None) -> Call:
    return _set_call("failed_submission", _entries("blobs", blobs), ignore_response_revisions)


def read_job_reference(envelope: Envelope) -> str:
    """Accepts both envelopes seen in the wild: `{job_reference}` and `[{job_reference}]`."""
    data = envelope.data
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    if isinstance(data, Mapping) and isinstance(data.get("job_reference"), str):
        return data["job_reference"]
    raise DataApiError(f"sessions set reply has no job_reference (data is {type(envelope.data).__name__})")


def template_call(activity_template_id: str | None = None, items: Sequence[str] | None = None) -> Call:
    if (activity_template_id is None) == (items is None):
        raise ValueError("give exactly one of activity_template_id or items")
    request: dict[str, Any] = (
        {"activity_template_id": activity_template_id} if items is None else {"items": list(items)}
    )
    return Call("sessions/templates", "get", request)


def read_template(envelope: Envelope, call: Call) -> dict[str, Any]:
    """The template object, kept opaque; an empty answer means Learnosity has no such template."""
    data = envelope.data
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    if isinstance(data, dict) and data:
        return data
    raise DataApiValidationError(f"Data API {call.name}: no session template for {dict(call.request)}")


def ping_call() -> Call:
    """The cheapest signed request: ask for one job that cannot exist (an empty answer is success)."""
    return Call("jobs", "get", {"references": [PING_REFERENCE]})


class JobsQuery:
    """Every requested job in every status (the documented default hides in-flight jobs),
    with its `data`, asked for in chunks of 1000 references and following `next` while any
    reference is still missing."""

    def __init__(self, references: Sequence[str]) -> None:
        self._missing = dict.fromkeys(references)
        self._chunks = [
            list(self._missing)[start : start + MAX_JOB_REFERENCES_PER_GET]
            for start in range(0, len(self._missing), MAX_JOB_REFERENCES_PER_GET)
        ]
        self._next: Call | None = None
        self.jobs: dict[str, Job] = {}

    def _chunk_call(self, chunk: list[str]) -> Call:
        return Call(
            "jobs",
            "get",
            {"references": chunk, "status": list(ALL_JOB_STATUSES), "include": list(JOB_FIELDS)},
        )

    def next_call(self) -> Call | None:
        if self._next is not None:
            call, self._next = self._next, None
            return call
        return self._chunk_call(self._chunks.pop(0)) if self._chunks else None

    def feed(self, call: Call, envelope: Envelope) -> None:
        jobs = _read_list(_jobs, envelope, call)
        for job in jobs:
            self.jobs[job.reference] = job
            self._missing.pop(job.reference, None)
        asked = set(call.request.get("references", ()))
        if jobs and envelope.meta.next and asked & self._missing.keys():
            self._next = Call(call.endpoint, call.action, {**call.request, "next": envelope.meta.next})


class ResponsesQuery:
    """`sessions/responses` pages. `meta.next` is present even after the last record on
    sessions endpoints, so the only end is an empty page."""

    def __init__(
        self,
        *,
        session_ids: Sequence[str] | None = None,
        user_ids: Sequence[str] | None = None,
        activity_ids: Sequence[str] | None = None,
        limit: int = MAX_RESPONSES_PER_PAGE,
    ) -> None:
        if not 1 <= limit <= MAX_RESPONSES_PER_PAGE:
            raise ValueError(f"limit must be 1 to {MAX_RESPONSES_PER_PAGE}, got {limit}")
        filters = {"session_id": session_ids, "user_id": user_ids, "activity_id": activity_ids}
        request: dict[str, Any] = {name: list(v) for name, v in filters.items() if v}
        if not request:
            raise ValueError("give at least one of session_ids, user_ids, activity_ids")
        self._next: Call | None = Call("sessions/responses", "get", {**request, "limit": limit})

    def next_call(self) -> Call | None:
        call, self._next = self._next, None
        return call

    def feed(self, call: Call, envelope: Envelope) -> list[SessionRecord]:
        records = _read_list(_records, envelope, call)
        if records and envelope.meta.next:
            self._next = Call(call.endpoint, call.action, {**call.request, "next": envelope.meta.next})
        return records


def _read_list(adapter: TypeAdapter[list[Any]], envelope: Envelope, call: Call) -> list[Any]:
    try:
        return adapter.validate_python(envelope.data or [])
    except ValidationError as exc:
        raise DataApiError(
            f"Data API {call.name}: unexpected reply shape ({exc.error_count()} problems, "
            f"first at {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']})"
        ) from None
