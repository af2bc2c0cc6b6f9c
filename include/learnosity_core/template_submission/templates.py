"""Which session template each activity uses, fetched once per run, and whether it can be used.

A session keeps the warehouse's `activity_id`; its template is asked for by an
`activity_template_id` (an item-bank activity reference) or by a list of item references. They
are often the activity id itself, but a district may run one paper test under many activity ids.
Where an activity's template comes from, most specific first: the source column
`activity_template_id`, the template map (Variable `learnosity_template_map` or the table named by
`learnosity_template_map_table`), else the activity id.

A template that cannot be used holds back its whole activity with one reason that says what was
found and what to do; the other activities go through, and the held-back rows are sent by a later
run once the template is usable (the run's window stays open).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy.engine import Engine

from learnosity_core.content.questions import read_template
from learnosity_core.dataapi.errors import DataApiValidationError
from learnosity_core.delivery.warehouse import plain_table_name

log = logging.getLogger(__name__)

MAP_SETTING = "learnosity_template_map"
MAP_TABLE_SETTING = "learnosity_template_map_table"
MAX_TEMPLATE_BYTES = 5 * 1024 * 1024


class TemplateMapError(ValueError):
    """The configured template map cannot be read; the message names the setting and the entry."""


class TemplateRef(BaseModel):
    """How to ask `sessions/templates` for a template: by activity template id or by items."""

    model_config = ConfigDict(frozen=True)

    activity_template_id: str | None = None
    items: tuple[str, ...] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> TemplateRef:
        if (self.activity_template_id is None) == (self.items is None):
            raise ValueError("give exactly one of activity_template_id or items")
        if self.activity_template_id == "" or self.items == ():
            raise ValueError("activity_template_id and items must not be empty")
        return self

    def label(self) -> str:
        if self.items is not None:
            return f"items {', '.join(self.items)}"
        return f"activity_template_id {self.activity_template_id}"


class ActivityTemplates(BaseModel):
    """Per activity: the template to send with its sessions, or why the activity is held back."""

    templates: dict[str, dict[str, Any]]
    held_back: dict[str, str]
    refs: dict[str, TemplateRef] = Field(default_factory=dict)  # how each template was asked for


TemplateFetcher = Callable[[TemplateRef], dict[str, Any]]


class TemplateReader(Protocol):
    """The one Data API read templates need (the real client satisfies it)."""

    def get_session_template(
        self, *, activity_template_id: str | None = None, items: Sequence[str] | None = None
    ) -> dict[str, Any]: ...


def fetcher(client: TemplateReader) -> TemplateFetcher:
    """Ask `sessions/templates` for a template the way its reference says."""

    def fetch(ref: TemplateRef) -> dict[str, Any]:
        items = list(ref.items) if ref.items is not None else None
        return client.get_session_template(activity_template_id=ref.activity_template_id, items=items)

    return fetch


def _ref(entry: Any, where: str) -> TemplateRef:
    """A map entry: "template-ref", ["item-1", "item-2"], or {"activity_template_id"|"items": ...}."""
    if isinstance(entry, str):
        value: Any = {"activity_template_id": entry}
    elif isinstance(entry, list):
        value = {"items": entry}
    else:
        value = entry
    try:
        return TemplateRef.model_validate(value)
    except ValidationError as exc:
        problem = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise TemplateMapError(
            f"{where}: expected a template reference, a list of item references, or an object with "
            f"activity_template_id or items ({problem})"
        ) from None


def parse_template_map(text: str) -> dict[str, TemplateRef]:
    """Variable `learnosity_template_map`: a JSON object from activity id to its template."""
    if not text.strip():
        return {}
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TemplateMapError(f"{MAP_SETTING} is not JSON: {exc.msg} at position {exc.pos}") from None
    if not isinstance(raw, dict):
        raise TemplateMapError(f"{MAP_SETTING} must be a JSON object from activity id to template")
    return {str(activity): _ref(entry, f"{MAP_SETTING}[{activity!r}]") for activity, entry in raw.items()}


def read_template_map_table(engine: Engine, table: str) -> dict[str, TemplateRef]:
    """The table named by `learnosity_template_map_table`: `activity_id`, `activity_template_id`,
    `items` (a JSON array of item references; used when `activity_template_id` is empty)."""
    name = plain_table_name(table, MAP_TABLE_SETTING)
    refs: dict[str, TemplateRef] = {}
    with engine.connect() as conn:
        rows = conn.execute(sa.text(f"SELECT activity_id, activity_template_id, items FROM {name}"))
        for activity, template_id, items in rows:
            where = f"{MAP_TABLE_SETTING} row for activity {activity!r}"
            if template_id:
                refs[str(activity)] = _ref(str(template_id), where)
                continue
            try:
                parsed = json.loads(items) if isinstance(items, str) else items
            except json.JSONDecodeError:
                raise TemplateMapError(f"{where}: items is not a JSON array") from None
            refs[str(activity)] = _ref(parsed, where)
    return refs


def choose_refs(
    activities: Iterable[str],
    column_ids: Mapping[str, set[str]],
    mapping: Mapping[str, TemplateRef],
) -> tuple[dict[str, TemplateRef], dict[str, str]]:
    """Each activity's template reference, and the activities whose rows disagree on it."""
    refs: dict[str, TemplateRef] = {}
    held_back: dict[str, str] = {}
    for activity in activities:
        named = sorted(column_ids.get(activity, set()))
        if len(named) > 1:
            held_back[activity] = (
                f"its rows name {len(named)} templates in activity_template_id ({', '.join(named)}); "
                "one activity uses one template: fix the warehouse rows"
            )
        elif named:
            refs[activity] = TemplateRef(activity_template_id=named[0])
        else:
            refs[activity] = mapping.get(activity) or TemplateRef(activity_template_id=activity)
    return refs, held_back


def unusable(template: Any) -> str | None:
    """Why a fetched template cannot be used (what was found and what to do), or None."""
    if not isinstance(template, Mapping):
        kind = type(template).__name__
        return f"the template answer is not a JSON object (got {kind}); check the reference"
    size = len(json.dumps(template, ensure_ascii=False).encode("utf-8"))
    if size > MAX_TEMPLATE_BYTES:
        limit = MAX_TEMPLATE_BYTES
        return f"the template is {size:,} bytes, over the {limit:,}-byte limit; check the reference"
    reading = read_template(template)
    if reading.unsupported:
        found = ", ".join(f"{qid} ({qtype})" for qid, qtype in reading.unsupported)
        return f"question types we do not support: {found}; remove them from the paper activity's template"
    if reading.duplicate_ids:
        return f"duplicate question ids: {', '.join(reading.duplicate_ids)}; every question needs its own id"
    if not reading.questions:
        return "no question found in the template: check that it is the paper activity's template"
    return None


def fetch_templates(refs: Mapping[str, TemplateRef], fetch: TemplateFetcher) -> ActivityTemplates:
    """Fetch each distinct template once, and sort the activities into usable and held back.

    A template Learnosity does not have, or one that cannot be used, holds back its activities;
    service and configuration errors (signature, rate limit after retries) fail the run instead.
    """
    outcome: dict[TemplateRef, dict[str, Any] | str] = {}
    for ref in dict.fromkeys(refs.values()):
        try:
            template: Any = fetch(ref)
        except DataApiValidationError as exc:
            outcome[ref] = f"Learnosity has no template for {ref.label()} ({exc}); fix the template map"
            continue
        problem = unusable(template)
        outcome[ref] = template if problem is None else f"{ref.label()}: {problem}"
    templates: dict[str, dict[str, Any]] = {}
    held_back: dict[str, str] = {}
    for activity, ref in refs.items():
        found = outcome[ref]
        if isinstance(found, str):
            held_back[activity] = found
            log.warning("Activity %s held back: %s", activity, found)
        else:
            templates[activity] = found
    return ActivityTemplates(templates=templates, held_back=held_back)


def resolve_templates(
    activities: Sequence[str],
    named: Mapping[str, set[str]],
    template_map: Mapping[str, TemplateRef],
    fetch: TemplateFetcher,
) -> ActivityTemplates:
    """Each activity's template (`named`: the source column's values per activity), fetched once
    per distinct reference, or why the activity is held back."""
    refs, held_back = choose_refs(activities, named, template_map)
    found = fetch_templates({a: ref for a, ref in refs.items() if a not in held_back}, fetch)
    return ActivityTemplates(templates=found.templates, held_back={**held_back, **found.held_back}, refs=refs)
