"""A realistic synthetic warehouse: templates with all 13 question types and OMR/ICR-like rows.

Used by the transform benchmark and reusable for demo data. Rows come in chunks ordered by
activity_id, user_id (as the extract query orders them) with text of realistic length (short
answers, paragraphs of plain text, HTML essays with entities), repeated option choices, about 4%
unattempted questions, some re-scanned duplicates and a small share of invalid rows of every kind
the quarantine knows. Everything is seeded, so the same arguments give the same rows.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Final

import pandas as pd

from learnosity_core.content.questions import TemplateQuestion, find_questions

# One paper test: every supported type at least once, option questions most often.
TEST_LAYOUT: Final[tuple[str, ...]] = (
    "mcq",
    "mcq",
    "shorttext",
    "mcq",
    "clozetext",
    "gridded",
    "mcq",
    "association",
    "choicematrix",
    "shorttext",
    "mcq",
    "orderlist",
    "clozeinlinetext",
    "formulaV2",
    "gridded",
    "clozeformula",
    "mcq",
    "plaintext",
    "longtextV2",
    "longtext",
)
INVALID_KINDS: Final[tuple[str, ...]] = (
    "unknown_question",
    "invalid_option",
    "bad_gridded",
    "bad_orderlist",
    "bad_json",
    "type_conflict",
    "bad_session_id",
    "borrowed_session_id",
    "missing_boxes",
    "missing_question",
    "duplicate_conflict",
    "undecodable_text",
)
_BORROWED_SESSION_ID: Final = "00000000-0000-4000-8000-000000000017"
UNKNOWN_ACTIVITY: Final = "archived-paper-test"  # sorts first, so every run has its rows

_SENTENCES: Final = (
    "the cell membrane controls what enters and leaves because it is selectively permeable",
    "photosynthesis turns light energy into chemical energy stored in glucose during the day",
    "water evaporates from the leaves when temperature rises and pressure falls so the plant",
    "needs roots to replace it Paris Berlin Zürich Ōsaka São Paulo évaporation naïve café",
    "osmosis diffusion gradient concentration molecule oxygen carbon dioxide respiration enzyme",
)
_WORDS: Final = tuple(word for sentence in _SENTENCES for word in sentence.split())
_OPTION_LABELS: Final = ("Red", "Blue", "Green", "Yellow", "None of these")


def _question_id(activity_id: str, number: int) -> str:
    return hashlib.md5(f"{activity_id}/{number}".encode(), usedforsecurity=False).hexdigest()


def _question(activity_id: str, number: int, question_type: str) -> dict[str, Any]:
    obj: dict[str, Any] = {"id": _question_id(activity_id, number), "type": question_type}
    if question_type == "mcq":
        obj["options"] = [{"value": str(i), "label": label} for i, label in enumerate(_OPTION_LABELS[:4])]
        obj["multiple_responses"] = number % 3 == 0
    elif question_type == "association":
        obj["stimulus_list"] = ["France", "Germany", "Japan"]
        obj["possible_responses"] = ["Paris", "Berlin", "Tokyo", "Madrid"]
    elif question_type in {"clozetext", "clozeformula"}:
        obj["response_count"] = 2
    elif question_type == "clozeinlinetext":
        obj["response_count"] = 3
        obj["possible_responses"] = ["mitochondria", "nucleus", "ribosome", "membrane"]
    elif question_type == "choicematrix":
        obj["stems"] = ["Solid", "Liquid", "Gas", "Plasma"]
        obj["options"] = ["True", "False", "Not sure"]
    elif question_type == "orderlist":
        obj["list"] = ["Seed", "Sprout", "Plant", "Flower", "Fruit"]
    return obj


def synthetic_templates(activities: int = 8) -> dict[str, dict[str, Any]]:
    """Templates shaped as `template.py` documents: items holding question objects."""
    templates: dict[str, dict[str, Any]] = {}
    for a in range(activities):
        activity_id = f"paper-test-{a + 1:02d}"
        layout = TEST_LAYOUT[a % len(TEST_LAYOUT) :] + TEST_LAYOUT[: a % len(TEST_LAYOUT)]
        templates[activity_id] = {
            "activity_template_id": activity_id,
            "items": [
                {"reference": f"{activity_id}-item-{n + 1}", "questions": [_question(activity_id, n, t)]}
                for n, t in enumerate(layout)
            ],
            "config": {"scoring_type": "per-question"},
        }
    return templates


class _Writer:
    """Raw responses as a scanner/ICR export would hold them."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def words(self, count: int) -> str:
        return " ".join(self.rng.choices(_WORDS, k=count))

    def sentences(self, words: int) -> str:
        out: list[str] = []
        while words > 0:
            n = min(words, self.rng.randint(6, 18))
            out.append(self.words(n).capitalize() + self.rng.choice([".", ".", ",", "?", "!"]))
            words -= n
        return " ".join(out)

    def essay(self) -> str:
        paragraphs = []
        for _ in range(self.rng.randint(1, 4)):
            body = self.sentences(self.rng.randint(30, 90))
            if self.rng.random() < 0.2:
                body = body.replace(" and ", " &amp; ", 1).replace(" the ", "&nbsp;the ", 1)
            if self.rng.random() < 0.3:
                body = body.replace(" energy", " <strong>energy</strong>", 1)
            paragraphs.append(f"<p>{body}</p>")
        return "".join(paragraphs)

    def response(self, q: TemplateQuestion) -> tuple[str | None, str | None]:
        """A valid (response, response_boxes) for the question."""
        rng = self.rng
        if rng.random() < 0.04:
            return None, None
        if q.type == "mcq":
            options = sorted(q.allowed_values or {"0"})
            many = q.multiple_responses and rng.random() >= 0.85
            return json.dumps(sorted(rng.sample(options, k=2 if many else 1))), None
        if q.type in {"association", "clozeinlinetext"}:
            pool = sorted(q.allowed_values or {"x"})
            slots = q.slot_count or 1
            return json.dumps([rng.choice(pool) if rng.random() > 0.05 else None for _ in range(slots)]), None
        if q.type == "clozetext":
            return json.dumps(
                [rng.choice(_WORDS) for _ in range(q.slot_count or 1)], ensure_ascii=False
            ), None
        if q.type == "choicematrix":
            return json.dumps([[rng.randrange(q.option_count or 2)] for _ in range(q.slot_count or 1)]), None
        if q.type == "orderlist":
            order = list(range(q.list_length or 3))
            if rng.random() < 0.5:
                rng.shuffle(order)
            return json.dumps(order), None
        if q.type == "clozeformula":
            boxes = [[f"{rng.randint(1, 9)}x+{rng.randint(0, 9)}"] for _ in range(q.slot_count or 1)]
            return json.dumps(boxes), json.dumps(boxes)
        if q.type == "gridded":
            return rng.choice(
                [f"{rng.randint(0, 999)}.{rng.randint(0, 99):02d}", str(rng.randint(0, 99))]
            ), None
        if q.type == "formulaV2":
            return f"\\frac{{{rng.randint(1, 9)}}}{{{rng.randint(2, 9)}}}+x^{{{rng.randint(2, 3)}}}", None
        if q.type == "shorttext":
            return self.words(rng.randint(1, 3)), None
        if q.type == "plaintext":
            text = self.sentences(rng.randint(15, 120))
            return (text.replace(". ", ".\n", 1) if rng.random() < 0.3 else text), None
        return self.essay(), None  # longtext, longtextV2


_FITS: Final[dict[str, set[str]]] = {
    "invalid_option": {"mcq"},
    "bad_gridded": {"gridded"},
    "bad_orderlist": {"orderlist"},
    "bad_json": {"mcq", "choicematrix", "clozetext"},
    "missing_boxes": {"clozeformula"},
    "undecodable_text": {"shorttext", "plaintext", "longtext", "longtextV2"},
}


def _corrupt(kind: str, row: dict[str, Any], q: TemplateQuestion) -> None:
    """Break one rule in the row (`kind` fits the question: see `_FITS`)."""
    if kind == "unknown_question":
        row["question_id"] += "-not-in-template"
    elif kind == "invalid_option":
        row["response"] = json.dumps(["7"])
    elif kind == "bad_gridded":
        row["response"] = "12,5"
    elif kind == "bad_orderlist":
        row["response"] = json.dumps([0, 0, 1, 2, 3])
    elif kind == "bad_json":
        row["response"] = "0, 2"
    elif kind == "type_conflict":
        row["question_type"] = "shorttext" if q.type != "shorttext" else "mcq"
    elif kind == "bad_session_id":
        row["session_id"] = "session-17"
    elif kind == "borrowed_session_id":
        row["session_id"] = _BORROWED_SESSION_ID  # the first learner to use it keeps it
    elif kind == "missing_boxes":
        row["response_boxes"] = None
    elif kind == "missing_question":
        row["question_id"] = None
    elif kind == "undecodable_text":
        row["response"] = "caf\ufffd"  # how a SQLite value that was not UTF-8 reads (warehouse.py)


def synthetic_rows(
    templates: dict[str, dict[str, Any]],
    rows: int,
    chunk_rows: int = 50_000,
    seed: int = 7,
    invalid_rate: float = 0.002,
    duplicate_rate: float = 0.003,
) -> Iterator[pd.DataFrame]:
    """Exactly `rows` rows in chunks of `chunk_rows`, ordered by activity_id, user_id.

    Learners are spread evenly over the activities (plus a few for an activity with no
    template); about `invalid_rate` of rows break one rule and `duplicate_rate` are re-scans.
    """
    rng = random.Random(seed)
    writer = _Writer(rng)
    questions = {a: list(find_questions(t).values()) for a, t in templates.items()}
    per_learner = sum(len(qs) for qs in questions.values()) or 1
    learners = max(1, -(-rows // per_learner))
    plan = sorted([*questions, UNKNOWN_ACTIVITY])
    base = int(datetime(2026, 3, 2, 9, tzinfo=UTC).timestamp())
    buffer: list[dict[str, Any]] = []
    emitted = 0

    def flush(final: bool) -> Iterator[pd.DataFrame]:
        nonlocal buffer, emitted
        del buffer[rows - emitted :]  # a duplicate pair may overshoot by one
        while buffer and (final or len(buffer) >= chunk_rows):
            take, buffer = buffer[:chunk_rows], buffer[chunk_rows:]
            emitted += len(take)
            frame = pd.DataFrame(take)
            frame["updated_at"] = pd.to_datetime(frame["updated_at"], unit="s", utc=True)
            frame["attempt"] = frame["attempt"].astype("int64")
            yield frame

    for activity_id in plan:
        qs = questions.get(activity_id) or next(iter(questions.values()))[:5]
        count = learners if activity_id in questions else 3
        for learner in range(count):
            session_id = str(uuid.UUID(int=rng.getrandbits(128), version=4)) if rng.random() < 0.3 else None
            scanned = base + rng.randint(0, 7 * 86_400)
            for q in qs:
                if emitted + len(buffer) >= rows:
                    yield from flush(final=True)
                    return
                response, boxes = writer.response(q)
                row: dict[str, Any] = {
                    "user_id": f"student-{learner:06d}",
                    "activity_id": activity_id,
                    "session_id": session_id,
                    "attempt": 1,
                    "question_id": q.id,
                    "question_type": q.type,
                    "response": response,
                    "response_boxes": boxes,
                    "updated_at": scanned + rng.randint(0, 600),
                }
                if rng.random() < invalid_rate:
                    kind = rng.choice([k for k in INVALID_KINDS if q.type in _FITS.get(k, {q.type})])
                    if kind == "duplicate_conflict":
                        buffer.append(row)
                        row = dict(row, response=writer.response(q)[0] or response)
                    else:
                        _corrupt(kind, row, q)
                elif rng.random() < duplicate_rate:  # an earlier scan of the sheet, superseded
                    buffer.append(dict(row, updated_at=row["updated_at"] - 3_600))
                buffer.append(row)
            yield from flush(final=False)
    yield from flush(final=True)


def synthetic_frame(templates: dict[str, dict[str, Any]], rows: int, seed: int = 7) -> pd.DataFrame:
    """The same rows as one frame (small sizes: tests and demo data)."""
    frames = list(synthetic_rows(templates, rows, chunk_rows=max(rows, 1), seed=seed))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
