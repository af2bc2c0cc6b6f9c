"""The questions of a session template, and what each lets a response hold.

The shape of a `sessions/templates` answer is not public, so the template is opaque JSON that is
echoed back into `SET /sessions`, searched for question objects in every form Learnosity writes
one: item JSON (`{"reference", "widget_type": "response", "data": {"type", ...}}`), Questions API
JSON (`{"response_id", "type", ...}`) and the seed's `{"id", "type", ...}`. A question object is
any mapping with a supported `type` on itself or in its `data`; its id is `id`, else
`response_id`, else `reference`; its settings sit next to its type. Features (passages, videos:
`widget_type: "feature"` or in a `features` list) are skipped with their contents, and a response
widget whose type is not supported is reported rather than silently left out.

Settings read here, each only when the template states it unless a default is given:
- mcq: `options: [{"value", "label"}]` (an option without a value is stored as its index, as a
  string), `multiple_responses` (default false: exactly one option).
- choicematrix: `stems` (one entry each), `options` (valid indices), `multiple_responses`
  (default false: one index per stem).
- association: `stimulus_list` (one entry each); `possible_response_groups: [{"responses"}]`
  (their union) or `possible_responses`.
- clozetext, clozeinlinetext, clozeformula: one entry per `{{response}}` marker in `template`,
  else `response_count` (the seed's field); optional `possible_responses` (not clozeformula).
- orderlist: `list` (responses are permutations of its indices).
- gridded: the grid settings of `gridded.read_grid`.
- shorttext: `max_length` in characters (default 50); plaintext, longtext, longtextV2:
  `max_length` in words (default 10,000). Longer answers are sent as written, with a warning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from pydantic import BaseModel, ConfigDict

from learnosity_core.content.gridded import GridSettings, read_grid
from learnosity_core.content.question_types import SUPPORTED_TYPES

_ID_FIELDS: Final = ("id", "response_id", "reference")
_RESPONSE_MARKER: Final = "{{response}}"
_CLOZE_TYPES: Final = frozenset({"clozeformula", "clozeinlinetext", "clozetext"})
# Learnosity's defaults (its published question schema) where a text question states no max_length.
DEFAULT_MAX_LENGTH: Final = {"shorttext": 50, "plaintext": 10_000, "longtext": 10_000, "longtextV2": 10_000}
_MISSING: Final = "<missing>"


class TemplateQuestion(BaseModel):
    """What a response to one question must satisfy; None means the template does not say."""

    model_config = ConfigDict(frozen=True)

    id: str
    type: str
    allowed_values: frozenset[str] | None = None
    slot_count: int | None = None
    option_count: int | None = None
    list_length: int | None = None
    multiple_responses: bool = False  # mcq, choicematrix: more than one option (per stem)
    max_length: int | None = None  # text types: characters (shorttext) or words; over it is a warning
    grid: GridSettings = GridSettings()


class TemplateReading(BaseModel):
    """Everything read from one template: its usable questions and what could not be used."""

    model_config = ConfigDict(frozen=True)

    questions: dict[str, TemplateQuestion]  # by id, in template order; the first of a repeated id
    unsupported: list[tuple[str, str]]  # (question id, type) of response widgets of other types
    duplicate_ids: list[str]  # ids that name more than one different question object, once each
    features_skipped: int


def _length(value: Any) -> int | None:
    return len(value) if isinstance(value, list) else None


def _strings(value: Any) -> frozenset[str] | None:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return frozenset(value)
    return None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _option_values(options: Any) -> frozenset[str] | None:
    """mcq option values; an option without one is stored as its index."""
    if not isinstance(options, list) or not all(isinstance(o, Mapping) for o in options):
        return None
    return frozenset(str(o["value"]) if o.get("value") is not None else str(i) for i, o in enumerate(options))


def _possible_responses(fields: Mapping[str, Any]) -> frozenset[str] | None:
    """association: `possible_responses`, or every response of the groups it is split into."""
    groups = fields.get("possible_response_groups")
    if not isinstance(groups, list):
        return _strings(fields.get("possible_responses"))
    members: set[str] = set()
    for group in groups:
        responses = _strings(group.get("responses")) if isinstance(group, Mapping) else None
        if responses is None:
            return None
        members |= responses
    return frozenset(members)


def _boxes(fields: Mapping[str, Any]) -> int | None:
    """Response boxes of a cloze question: its `{{response}}` markers, else `response_count`."""
    template = fields.get("template")
    if isinstance(template, str) and _RESPONSE_MARKER in template:
        return template.count(_RESPONSE_MARKER)
    return _count(fields.get("response_count"))


def _settings(qtype: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The `TemplateQuestion` fields a question of this type states."""
    if qtype in {"mcq", "choicematrix"}:
        single_or_many = {"multiple_responses": fields.get("multiple_responses") is True}
        if qtype == "mcq":
            return {"allowed_values": _option_values(fields.get("options")), **single_or_many}
        stems, options = _length(fields.get("stems")), _length(fields.get("options"))
        return {"slot_count": stems, "option_count": options, **single_or_many}
    if qtype == "association":
        return {
            "slot_count": _length(fields.get("stimulus_list")),
            "allowed_values": _possible_responses(fields),
        }
    if qtype in _CLOZE_TYPES:
        possible = None if qtype == "clozeformula" else _strings(fields.get("possible_responses"))
        return {"slot_count": _boxes(fields), "allowed_values": possible}
    if qtype == "orderlist":
        return {"list_length": _length(fields.get("list"))}
    if qtype == "gridded":
        return {"grid": read_grid(fields)}
    if qtype in DEFAULT_MAX_LENGTH:
        return {"max_length": _count(fields.get("max_length")) or DEFAULT_MAX_LENGTH[qtype]}
    return {}


def _fields(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """Where a widget's type and settings sit: its `data` (item JSON) or itself."""
    data = obj.get("data")
    return data if isinstance(data, Mapping) and "type" in data else obj


def _question_id(obj: Mapping[str, Any]) -> str | None:
    return next((obj[f] for f in _ID_FIELDS if isinstance(obj.get(f), str) and obj[f]), None)


@dataclass
class _Reader:
    """Walks the template once, in order, collecting what `TemplateReading` reports."""

    questions: dict[str, TemplateQuestion] = field(default_factory=dict)
    unsupported: list[tuple[str, str]] = field(default_factory=list)
    duplicate_ids: list[str] = field(default_factory=list)
    features_skipped: int = 0

    def visit(self, node: Any, listed_under: str | None = None) -> None:
        """`listed_under`: the key of the list that holds this node, if any."""
        if isinstance(node, list):
            for child in node:
                self.visit(child, listed_under)
            return
        if not isinstance(node, Mapping):
            return
        if node.get("widget_type") == "feature" or listed_under == "features":
            self.features_skipped += 1
            return
        fields = _fields(node)
        qtype = fields.get("type")
        qid = _question_id(node)
        if qtype in SUPPORTED_TYPES:
            if qid is not None:
                self._add(TemplateQuestion(id=qid, type=qtype, **_settings(qtype, fields)))
                return
        elif isinstance(qtype, str) and (
            node.get("widget_type") == "response" or listed_under == "questions"
        ):
            self.unsupported.append((qid or _MISSING, qtype))
            return
        for key, child in node.items():
            self.visit(child, key if isinstance(child, list) else None)

    def _add(self, question: TemplateQuestion) -> None:
        """A repeat that reads the same is the same question met twice; a different one is a conflict."""
        first = self.questions.setdefault(question.id, question)
        if first != question and question.id not in self.duplicate_ids:
            self.duplicate_ids.append(question.id)


def read_template(template: Mapping[str, Any]) -> TemplateReading:
    """The template's questions in order, with what was skipped or cannot be used."""
    reader = _Reader()
    reader.visit(template)
    return TemplateReading(
        questions=reader.questions,
        unsupported=reader.unsupported,
        duplicate_ids=reader.duplicate_ids,
        features_skipped=reader.features_skipped,
    )


def find_questions(template: Mapping[str, Any]) -> dict[str, TemplateQuestion]:
    """Every supported question in the template, by question id (the first one wins)."""
    return read_template(template).questions
