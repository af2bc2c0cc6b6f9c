"""The Data API endpoints the emulator serves, called with an authenticated consumer and the raw request."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from learnosity_devtools.emulator import jobs, seed
from learnosity_devtools.emulator.app import Emulator
from learnosity_devtools.emulator.content import check_sessions
from learnosity_devtools.emulator.envelope import (
    ITEM_NOT_FOUND,
    METHOD_NOT_ALLOWED,
    SCHEMA_INVALID,
    ApiError,
    format_dt,
    success,
)
from learnosity_devtools.emulator.payloads import (
    encode_cursor,
    parse_jobs_get,
    parse_responses_get,
    parse_set_sessions,
    parse_templates_get,
)
from learnosity_devtools.emulator.store import StoredSession

HALT_REASON = "halted by an injected fault (halt_jobs)"
HELD_JOB_DELAY_S = 2 * 86400.0  # a held job stays queued for a day (it runs at half its delay)

Endpoint = Callable[[Emulator, str, str | None], dict[str, Any]]


def set_sessions(app: Emulator, consumer_key: str, raw: str | None) -> dict[str, Any]:
    request = parse_set_sessions(raw)
    if app.config.entry_checks == "request":
        _, errors = check_sessions(request)
        if errors:
            problems = "; ".join(f"data[{e.index}]: {e.message}" for e in errors)
            raise ApiError(400, SCHEMA_INVALID, f"JSON failed to validate against the schema: {problems}")
    halt_reason = HALT_REASON if app.faults.take("halt_jobs") else None
    delay_s = HELD_JOB_DELAY_S if app.faults.take("hold_jobs") else app.config.job_delay_s
    reference = jobs.create_job(app.store, consumer_key, raw or "", request, delay_s, halt_reason)
    app.jobs.wake()
    return success({"job_reference": reference})


def get_jobs(app: Emulator, consumer_key: str, raw: str | None) -> dict[str, Any]:
    """The documented job fields; `data` (the emulator's per-session detail) only with `job_detail`."""
    query = parse_jobs_get(raw)
    records = app.store.jobs(consumer_key, query.references, query.status)
    data = []
    for job in records:
        entry: dict[str, Any] = {
            "reference": job.reference,
            "type": job.type,
            "status": job.status,
            "dt_created": format_dt(job.created_at),
            "dt_completed": format_dt(job.completed_at),
        }
        if query.include_data and app.config.job_detail:
            entry["data"] = job.result.public()
        data.append(entry)
    return success(data, records=len(data))


def get_templates(app: Emulator, consumer_key: str, raw: str | None) -> dict[str, Any]:
    query = parse_templates_get(raw)
    if query.items is not None:
        unknown = sorted(set(query.items) - set(seed.demo_items()))
        if unknown:
            raise ApiError(400, ITEM_NOT_FOUND, f"Item(s) not found: {unknown}")
        return success(seed.items_template(query.items))
    templates = seed.served_templates()
    if query.activity_template_id not in templates:
        raise ApiError(
            400,
            ITEM_NOT_FOUND,
            f"Activity template {query.activity_template_id!r} not found; known: {sorted(templates)}",
        )
    return success(templates[query.activity_template_id])


def _attempted(value: Any) -> bool:
    if isinstance(value, list):
        return any(v is not None for v in value)
    return value not in (None, "")


def _session(stored: StoredSession) -> dict[str, Any]:
    responses = [
        {
            "response_id": r.response_id,
            "question_type": r.question_type,
            "attempted": _attempted(r.response.get("value")),
            "response": r.response,
        }
        for r in stored.responses
    ]
    return {
        "user_id": stored.user_id,
        "activity_id": stored.activity_id,
        "session_id": stored.session_id,
        "status": "Completed",
        "num_attempted": sum(r["attempted"] for r in responses),
        "num_questions": stored.num_questions,
        "dt_saved": format_dt(stored.saved_at),
        "dt_started": format_dt(stored.started_at),
        "dt_completed": format_dt(stored.saved_at),
        "responses": responses,
    }


def get_responses(app: Emulator, consumer_key: str, raw: str | None) -> dict[str, Any]:
    """One page of stored sessions; `meta.next` is always present, as on the real `sessions/*`."""
    query = parse_responses_get(raw)
    page: list[StoredSession] = []
    if query.status is None or "Completed" in query.status:
        page = app.store.sessions(
            after=query.after,
            limit=query.limit,
            session_ids=query.session_id,
            user_ids=query.user_id,
            activity_ids=query.activity_id,
        )
    cursor = encode_cursor(page[-1].seq if page else query.after)
    return success([_session(s) for s in page], records=len(page), next=cursor)


ENDPOINTS: dict[tuple[str, str], Endpoint] = {
    ("set", "sessions"): set_sessions,
    ("get", "jobs"): get_jobs,
    ("get", "sessions/templates"): get_templates,
    ("get", "sessions/responses"): get_responses,
}
KNOWN_ENDPOINTS = frozenset(endpoint for _, endpoint in ENDPOINTS)


def dispatch(app: Emulator, action: str, endpoint: str, consumer_key: str, raw: str | None) -> dict[str, Any]:
    handler = ENDPOINTS.get((action, endpoint))
    if handler is None:
        raise ApiError(405, METHOD_NOT_ALLOWED, f"Action {action!r} is not supported on /{endpoint}")
    return handler(app, consumer_key, raw)
