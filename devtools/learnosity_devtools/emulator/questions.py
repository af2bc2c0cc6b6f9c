"""The questions of a session template, and what each lets a response hold.

The Template Submission page says only that a `question_id` "must match one of the
`question.id` values in the `template` object"; the template's shape is not published. So any
object in it naming one of the 13 supported types is a question, in each form Learnosity
writes one: flat as Questions API takes it (`{"id"|"response_id"|"reference": ..., "type": ...}`,
the form of the emulator's seed) or as item JSON keeps it (`{"reference": ..., "data": {"type": ...}}`).
Only fields that bound a response are read; a question that lacks one bounds nothing there.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

# The types the Template Submission page lists; others need Learnosity Support.
SUPPORTED_TYPES: Final = frozenset(
    {
        "association",
        "choicematrix",
        "clozeformula",
        "clozeinlinetext",
        "clozetext",
        "formulaV2",
        "gridded",
        "longtext",
        "longtextV2",
        "mcq",
        "orderlist",
        "plaintext",
        "shorttext",
    }
)
_ID_FIELDS: Final = ("id", "response_id", "reference")
_CLOZE_TYPES: Final = frozenset({"clozeformula", "clozeinlinetext", "clozetext"})
_BOX: Final = "{{response}}"


@dataclass(frozen=True)
class Question:
    """What a response to one question may hold; None where the question does not say."""

    id: str
    type: str
    # Entries the value must have: one per stimulus, response box, stem or list item.
    positions: int | None = None
    choices: frozenset[str] | None = None  # the strings an entry may be
    option_count: int | None = None  # choicematrix: each index is below this
    fractions: bool = False  # gridded: a `fraction_slash` column lets "3/4" be entered


def _length(value: Any) -> int | None:
    return len(value) if isinstance(value, list) else None


def _strings(value: Any) -> frozenset[str] | None:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return frozenset(value)
    return None


def _mcq_choices(options: Any) -> frozenset[str] | None:
    """Option values; an option without one is stored as its index, as Learnosity does."""
    if not isinstance(options, list) or not all(isinstance(o, Mapping) for o in options):
        return None
    return frozenset(o["value"] if isinstance(o.get("value"), str) else str(i) for i, o in enumerate(options))


def _association_choices(fields: Mapping[str, Any]) -> frozenset[str] | None:
    """`possible_responses`, or every response of the `possible_response_groups` it is split into."""
    groups = fields.get("possible_response_groups")
    if not isinstance(groups, list):
        return _strings(fields.get("possible_responses"))
    members: set[str] = set()
    for group in groups:
        strings = _strings(group.get("responses")) if isinstance(group, Mapping) else None
        if strings is None:
            return None
        members |= strings
    return frozenset(members)


def _boxes(fields: Mapping[str, Any]) -> int | None:
    """Response boxes: the template's `{{response}}` markers, else the seed's `response_count`."""
    template = fields.get("template")
    if isinstance(template, str) and _BOX in template:
        return template.count(_BOX)
    count = fields.get("response_count")
    return count if isinstance(count, int) and not isinstance(count, bool) and count > 0 else None


def _read(question_id: str, qtype: str, fields: Mapping[str, Any]) -> Question:
    if qtype == "mcq":
        return Question(question_id, qtype, choices=_mcq_choices(fields.get("options")))
    if qtype == "association":
        return Question(
            question_id,
            qtype,
            positions=_length(fields.get("stimulus_list")),
            choices=_association_choices(fields),
        )
    if qtype in _CLOZE_TYPES:
        choices = None if qtype == "clozeformula" else _strings(fields.get("possible_responses"))
        return Question(question_id, qtype, positions=_boxes(fields), choices=choices)
    if qtype == "choicematrix":
        return Question(
            question_id,
            qtype,
            positions=_length(fields.get("stems")),
            option_count=_length(fields.get("options")),
        )
    if qtype == "orderlist":
        return Question(question_id, qtype, positions=_length(fields.get("list")))
    if qtype == "gridded":
        return Question(question_id, qtype, fractions=fields.get("fraction_slash") is True)
    return Question(question_id, qtype)


def _as_question(obj: Mapping[str, Any]) -> Question | None:
    data = obj.get("data")
    fields = data if isinstance(data, Mapping) and "type" in data else obj
    qtype = fields.get("type")
    question_id = next((obj[f] for f in _ID_FIELDS if isinstance(obj.get(f), str) and obj[f]), None)
    if qtype not in SUPPORTED_TYPES or question_id is None:
        return None
    return _read(question_id, qtype, fields)


def _walk(node: Any) -> Iterator[Question]:
    if isinstance(node, Mapping):
        question = _as_question(node)
        if question is not None:
            yield question
            return
        nodes: Any = node.values()
    elif isinstance(node, list):
        nodes = node
    else:
        return
    for child in nodes:
        yield from _walk(child)


def questions_in(template: Mapping[str, Any]) -> dict[str, Question]:
    """Every question in the template by id; when an id repeats, its first question counts."""
    found: dict[str, Question] = {}
    for question in _walk(template):
        found.setdefault(question.id, question)
    return found
