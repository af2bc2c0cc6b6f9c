"""The first-contact check: what a user runs once against a new account, before the first night.

It (a) sends one signed, harmless request and says whether key, secret, domain, LTS version and
base URL work; (b) fetches the template of each activity and lists, per question, the id, type
and the constraints understood, plus what was skipped and why; (c) transforms a sample of each
activity's warehouse rows and writes the exact `SET /sessions` request bodies the nightly run
would send (no signature, no secret) to a JSON Lines file. It sends nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

from pydantic import BaseModel, Field
from sqlalchemy.engine import Engine

from learnosity_core.content.questions import read_template
from learnosity_core.dataapi.diagnosis import explain
from learnosity_core.dataapi.errors import DataApiError
from learnosity_core.dataapi.limits import MAX_SESSIONS_PER_SET
from learnosity_core.dataapi.operations import template_sessions_call
from learnosity_core.delivery.warehouse import Source
from learnosity_core.template_submission.extract import (
    Window,
    changed_activities,
    iter_rows,
    named_templates,
)
from learnosity_core.template_submission.templates import (
    TemplateFetcher,
    TemplateRef,
    resolve_templates,
)
from learnosity_core.template_submission.transform import TemplateIndex, transform_chunks

log = logging.getLogger(__name__)

MAX_ACTIVITIES = 50


class CheckFailed(Exception):
    """The account cannot be used as configured; the message names the setting to fix."""


class QuestionLine(BaseModel):
    id: str
    type: str
    constraints: dict[str, Any]


class ActivityCheck(BaseModel):
    activity_id: str
    template: str  # how it was asked for
    questions: list[QuestionLine] = Field(default_factory=list)
    skipped: list[str] = Field(default_factory=list)
    held_back: str | None = None
    sessions_written: int = 0
    rows_quarantined: int = 0
    quarantined_by_reason: dict[str, int] = Field(default_factory=dict)


class CheckReport(BaseModel):
    connection: str
    activities: list[ActivityCheck]
    requests_file: str | None = None  # where the caller had the bodies written


def check_connection(ping: Callable[[], None], conn_id: str) -> str:
    """One signed request; a refusal raises CheckFailed naming the setting to fix."""
    try:
        ping()
    except DataApiError as exc:
        raise CheckFailed(f"connection {conn_id}: {explain(exc, conn_id)}") from None
    return f"connection {conn_id}: the Data API accepted a signed request (key, secret, domain, version, URL)"


def _activity_check(
    activity_id: str, ref: TemplateRef | None, template: Mapping[str, Any] | None
) -> ActivityCheck:
    check = ActivityCheck(activity_id=activity_id, template=ref.label() if ref else "-")
    if template is None:
        return check
    reading = read_template(template)
    for question in reading.questions.values():
        constraints = question.model_dump(exclude={"id", "type"}, exclude_none=True, exclude_defaults=True)
        check.questions.append(QuestionLine(id=question.id, type=question.type, constraints=constraints))
    check.skipped += [f"question {qid}: type {qtype} is not supported" for qid, qtype in reading.unsupported]
    check.skipped += [f"question id {qid} names more than one question" for qid in reading.duplicate_ids]
    if reading.features_skipped:
        check.skipped.append(f"features (passages, media), not questions: {reading.features_skipped}")
    return check


def check_templates(
    activities: Sequence[str],
    engine: Engine,
    source: Source,
    template_map: Mapping[str, TemplateRef],
    fetch: TemplateFetcher,
) -> tuple[list[ActivityCheck], dict[str, dict[str, Any]]]:
    """Per activity: its template as understood, or why it would be held back; and the usable ones."""
    named = named_templates(engine, source, Window(), activities)
    found = resolve_templates(activities, named, template_map, fetch)
    checks = []
    for activity in activities:
        check = _activity_check(activity, found.refs.get(activity), found.templates.get(activity))
        check.held_back = found.held_back.get(activity)
        checks.append(check)
    return checks, found.templates


def write_sample_requests(
    engine: Engine,
    source: Source,
    templates: Mapping[str, dict[str, Any]],
    checks: Sequence[ActivityCheck],
    out: TextIO,
    sessions_per_activity: int = MAX_SESSIONS_PER_SET,
) -> None:
    """Transform each usable activity's first rows and write the request bodies it would send."""
    by_activity = {c.activity_id: c for c in checks}
    index = TemplateIndex(dict(templates))
    for activity_id, template in templates.items():
        check = by_activity[activity_id]
        entries: list[str] = []
        rows = iter_rows(engine, source, Window(), [activity_id], chunksize=sessions_per_activity * 20)
        for result in transform_chunks(rows, index):
            for reason, count in result.quarantine["reason"].value_counts().items():
                check.quarantined_by_reason[str(reason)] = check.quarantined_by_reason.get(
                    str(reason), 0
                ) + int(count)
            check.rows_quarantined += len(result.quarantine)
            entries += list(result.sessions["session_json"])[: sessions_per_activity - len(entries)]
            if len(entries) >= sessions_per_activity:
                break
        for start in range(0, len(entries), MAX_SESSIONS_PER_SET):
            call = template_sessions_call(template, entries[start : start + MAX_SESSIONS_PER_SET])
            body = {"endpoint": call.endpoint, "action": call.action, "request": call.request}
            out.write(json.dumps(body, ensure_ascii=False) + "\n")
        check.sessions_written = len(entries)


def run_check(
    *,
    ping: Callable[[], None],
    conn_id: str,
    engine: Engine,
    source: Source,
    template_map: Mapping[str, TemplateRef],
    fetch: TemplateFetcher,
    activity_ids: Sequence[str],
    out: TextIO,
    sessions_per_activity: int = MAX_SESSIONS_PER_SET,
) -> CheckReport:
    """All three steps; activities default to those in the warehouse (at most MAX_ACTIVITIES)."""
    connection = check_connection(ping, conn_id)
    activities = list(activity_ids) or changed_activities(engine, source, Window())[:MAX_ACTIVITIES]
    checks, templates = check_templates(activities, engine, source, template_map, fetch)
    write_sample_requests(engine, source, templates, checks, out, sessions_per_activity)
    return CheckReport(connection=connection, activities=checks)


def report_lines(report: CheckReport) -> list[str]:
    """What the check prints: no learner data, only ids, types, constraints and counts."""
    lines = [f"OK {report.connection}"]
    for check in report.activities:
        lines.append(f"activity {check.activity_id} (template by {check.template}):")
        if check.held_back:
            lines.append(f"  HELD BACK: {check.held_back}")
        for q in check.questions:
            constraints = ", ".join(f"{k}={_short(v)}" for k, v in q.constraints.items()) or "none stated"
            lines.append(f"  question {q.id}: {q.type}; {constraints}")
        lines += [f"  skipped {what}" for what in check.skipped]
        if not check.held_back:
            reasons = ", ".join(f"{k}={v}" for k, v in sorted(check.quarantined_by_reason.items()))
            lines.append(
                f"  sample: {check.sessions_written} sessions written, {check.rows_quarantined} rows "
                f"would be quarantined{f' ({reasons})' if reasons else ''}"
            )
    if report.requests_file:
        lines.append(f"Request bodies (nothing was sent): {report.requests_file}")
    return lines


def _short(value: Any) -> str:
    if isinstance(value, (set, frozenset, list, tuple)):
        items = sorted(map(str, value))
        return "[" + ", ".join(items[:6]) + (", ..." if len(items) > 6 else "") + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={v}" for k, v in value.items()) + "}"
    return str(value)
