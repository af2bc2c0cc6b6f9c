"""Question objects found inside an opaque session template.

The real shape of a `sessions/templates` answer is not public, so the template itself is
treated as opaque JSON that is echoed back into `SET /sessions`. All we rely on is that it
contains question objects: a mapping with an `id` and one of the supported `type`s, wherever
it sits. From each we read only the constraints responses must satisfy.

Question object fields read here (the emulator's demo templates use these):
- mcq: `options: [{"value": str, "label": str}]`
- association: `stimulus_list: [str]` (one response slot each), `possible_responses: [str]`
- clozetext, clozeinlinetext: `response_count: int`, optional `possible_responses: [str]`
- clozeformula: `response_count: int`
- choicematrix: `stems: [str]` (one entry each), `options: [str]` (valid indices)
- orderlist: `list: [str]` (responses are permutations of its indices)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from learnosity_core.content.question_types import SUPPORTED_TYPES


class TemplateQuestion(BaseModel):
    """What a response to one question must satisfy; None means the template does not say."""

    model_config = ConfigDict(frozen=True)

    id: str
    type: str
    allowed_values: frozenset[str] | None = None
    slot_count: int | None = None
    option_count: int | None = None
    list_length: int | None = None


def _strings(value: Any) -> list[str] | None:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def _question(obj: Mapping[str, Any]) -> TemplateQuestion:
    qtype = obj["type"]
    allowed: frozenset[str] | None = None
    slots: int | None = None
    options: int | None = None
    length: int | None = None
    if qtype == "mcq" and isinstance(obj.get("options"), list):
        allowed = frozenset(
            str(o["value"]) for o in obj["options"] if isinstance(o, Mapping) and "value" in o
        )
    elif qtype == "association":
        stimuli = _strings(obj.get("stimulus_list"))
        slots = len(stimuli) if stimuli is not None else None
        possible = _strings(obj.get("possible_responses"))
        allowed = frozenset(possible) if possible is not None else None
    elif qtype in {"clozetext", "clozeinlinetext", "clozeformula"}:
        count = obj.get("response_count")
        slots = count if isinstance(count, int) and count > 0 else None
        possible = _strings(obj.get("possible_responses"))
        if possible is not None and qtype != "clozeformula":
            allowed = frozenset(possible)
    elif qtype == "choicematrix":
        stems = _strings(obj.get("stems"))
        labels = _strings(obj.get("options"))
        slots = len(stems) if stems is not None else None
        options = len(labels) if labels is not None else None
    elif qtype == "orderlist":
        items = _strings(obj.get("list"))
        length = len(items) if items is not None else None
    return TemplateQuestion(
        id=obj["id"],
        type=qtype,
        allowed_values=allowed,
        slot_count=slots,
        option_count=options,
        list_length=length,
    )


def _walk(node: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(node, Mapping):
        if isinstance(node.get("id"), str) and node.get("type") in SUPPORTED_TYPES:
            yield node
        for child in node.values():
            yield from _walk(child)
    elif isinstance(node, list):
        for child in node:
            yield from _walk(child)


def find_questions(template: Mapping[str, Any]) -> dict[str, TemplateQuestion]:
    """Every question object in the template, by question id (the first one wins)."""
    questions: dict[str, TemplateQuestion] = {}
    for obj in _walk(template):
        questions.setdefault(obj["id"], _question(obj))
    return questions
