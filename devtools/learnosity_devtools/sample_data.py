"""Realistic sample warehouse rows for any set of templates, with a few deliberately bad rows.

Used by `make demo` and the end-to-end tests: responses look like OMR/ICR output (option
choices, short answers, essays with HTML, gridded numbers), and each kind of invalid input
appears so the quarantine has something to show.
"""

from __future__ import annotations

import base64
import json
import random
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from learnosity_core.content.questions import TemplateQuestion, find_questions

_WORDS = (
    "the",
    "cell",
    "membrane",
    "controls",
    "what",
    "enters",
    "and",
    "leaves",
    "because",
    "it",
    "is",
    "selectively",
    "permeable",
    "photosynthesis",
    "turns",
    "light",
    "energy",
    "into",
    "chemical",
    "energy",
    "stored",
    "in",
    "glucose",
    "Paris",
    "Berlin",
    "Zürich",
    "Ōsaka",
    "São",
    "Paulo",
    "water",
    "évaporation",
    "temperature",
    "pressure",
    "increases",
)
# Kinds of bad rows the demo plants, one each per activity.
INVALID_KINDS = ("unknown_question", "invalid_option", "bad_gridded", "bad_orderlist", "type_conflict")


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words))


def _response(q: TemplateQuestion, rng: random.Random) -> tuple[str | None, str | None]:
    """A valid raw `response` (and `response_boxes`) as a warehouse would hold it."""
    if rng.random() < 0.04:
        return None, None  # unattempted
    slots = q.slot_count or 2
    options = sorted(q.allowed_values) if q.allowed_values else None
    if q.type == "mcq":
        assert options is not None
        many = q.multiple_responses and rng.random() >= 0.8
        return json.dumps(sorted(rng.sample(options, k=2 if many else 1))), None
    if q.type in {"association", "clozetext", "clozeinlinetext"}:
        pool = options or [_text(rng, 1) for _ in range(4)]
        return json.dumps([rng.choice(pool) if rng.random() > 0.05 else None for _ in range(slots)]), None
    if q.type == "choicematrix":
        count = q.option_count or 2
        return json.dumps([[rng.randrange(count)] for _ in range(slots)]), None
    if q.type == "orderlist":
        order = list(range(q.list_length or 4))
        rng.shuffle(order)
        return json.dumps(order), None
    if q.type == "clozeformula":
        boxes = [[f"{rng.randint(1, 9)}x+{rng.randint(0, 9)}"] for _ in range(slots)]
        return json.dumps(boxes), json.dumps(boxes)
    if q.type == "gridded":
        return _gridded(q, rng), None
    if q.type == "formulaV2":
        return f"\\frac{{{rng.randint(1, 9)}}}{{{rng.randint(2, 9)}}} + x^2", None
    if q.type == "shorttext":
        return _text(rng, rng.randint(1, 3)), None
    if q.type == "longtextV2" or q.type == "longtext":
        paragraphs = [f"<p>{_text(rng, rng.randint(20, 80))}</p>" for _ in range(rng.randint(1, 3))]
        return "".join(paragraphs), None
    return _text(rng, rng.randint(5, 40)) + ("  " if rng.random() < 0.1 else ""), None  # plaintext


def _gridded(q: TemplateQuestion, rng: random.Random) -> str:
    """A number as a learner bubbles it in: within the grid's columns, decimal or fraction if allowed."""
    width = q.grid.columns or 6
    roll = rng.random()
    if q.grid.fraction and roll < 0.15:
        return f"{rng.randint(1, 9)}/{rng.randint(2, 9)}"
    if q.grid.decimal_point is not False and roll < 0.7 and width >= 3:
        whole = str(rng.randint(0, 10 ** (width - 2) - 1))
        return f"{whole}.{rng.randint(0, 9)}"
    return str(rng.randint(0, 10**width - 1))


def _corrupt(kind: str, row: dict[str, Any], q: TemplateQuestion) -> None:
    if kind == "unknown_question":
        row["question_id"] = row["question_id"] + "-missing"
    elif kind == "invalid_option":
        row["response"] = json.dumps(["not-an-option"])
    elif kind == "bad_gridded":
        row["response"] = "12,5"
    elif kind == "bad_orderlist":
        row["response"] = json.dumps([0, 0, 1])
    elif kind == "type_conflict":
        row["question_type"] = "mcq" if q.type != "mcq" else "shorttext"


def sample_rows(
    templates: Mapping[str, dict[str, Any]],
    learners: int,
    seed: int = 7,
    invalid: bool = True,
    now: datetime | None = None,
    unknown_activity: bool = True,
) -> pd.DataFrame:
    """One row per learner per question for every activity; bad rows planted when `invalid`,
    and with them (when `unknown_activity`) three rows of an activity Learnosity has no template
    for, which holds that activity back and so fails the run.

    `frame.attrs["invalid_sessions"]` names the sessions the planted rows must hold back.
    """
    rng = random.Random(seed)
    base = (now or datetime.now(UTC)).replace(microsecond=0, tzinfo=None) - timedelta(hours=6)
    rows: list[dict[str, Any]] = []
    planted: set[tuple[str, str]] = set()
    for activity_id, template in templates.items():
        questions = list(find_questions(template).values())
        targets: dict[tuple[int, str], str] = {}
        if invalid:
            for n, kind in enumerate(INVALID_KINDS):
                fitting = [q for q in questions if _fits(kind, q)]
                if fitting:
                    targets[(n * 7 + 3) % learners, rng.choice(fitting).id] = kind
        for learner in range(learners):
            user_id = f"student-{learner:05d}"
            for q in questions:
                response, boxes = _response(q, rng)
                row = {
                    "user_id": user_id,
                    "activity_id": activity_id,
                    "question_id": q.id,
                    "question_type": q.type,
                    "response": response,
                    "response_boxes": boxes,
                    "updated_at": (base + timedelta(seconds=rng.randint(0, 3600))).strftime(
                        "%Y-%m-%d %H:%M:%S"
                    ),
                }
                planted_kind = targets.get((learner, q.id))
                if planted_kind is not None:
                    _corrupt(planted_kind, row, q)
                    planted.add((activity_id, user_id))
                rows.append(row)
    if invalid and unknown_activity and templates:
        first = next(iter(templates))
        ghost = [r for r in rows if r["activity_id"] == first][:3]
        rows += [dict(r, activity_id="activity-not-in-learnosity") for r in ghost]
        planted |= {("activity-not-in-learnosity", r["user_id"]) for r in ghost}
    frame = pd.DataFrame(rows)
    frame.attrs["invalid_sessions"] = planted  # (activity_id, user_id) of every session held back
    return frame


def _fits(kind: str, q: TemplateQuestion) -> bool:
    return {
        "unknown_question": True,
        "invalid_option": q.type == "mcq",
        "bad_gridded": q.type == "gridded",
        "bad_orderlist": q.type == "orderlist",
        "type_conflict": True,
    }[kind]


def seed_warehouse(engine: Engine, rows: pd.DataFrame, table: str = "learnosity_responses") -> int:
    """(Re)create the source table with the documented contract's columns and load the rows."""
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        conn.execute(
            sa.text(
                f"CREATE TABLE {table} (row_id INTEGER, user_id TEXT NOT NULL, activity_id TEXT NOT NULL,"
                " question_id TEXT NOT NULL, question_type TEXT, session_id TEXT, response TEXT,"
                " response_boxes TEXT, updated_at TIMESTAMP, activity_template_id TEXT)"
            )
        )
    frame = rows.assign(row_id=range(1, len(rows) + 1))
    frame.to_sql(table, engine, if_exists="append", index=False, chunksize=5000)
    return len(frame)


def load_late_rows(
    engine: Engine, rows: pd.DataFrame, learners: int = 3, days: int = 3, table: str = "learnosity_responses"
) -> pd.DataFrame:
    """Papers scanned late: `learners` new learners answering like valid ones of `rows`, loaded now
    with an `updated_at` `days` back (before any nightly window that already ran). Returns them."""
    keys = zip(rows["activity_id"], rows["user_id"], strict=True)
    valid = rows[[k not in rows.attrs["invalid_sessions"] for k in keys]]
    writers = list(dict.fromkeys(valid["user_id"]))[:learners]
    written = (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%d %H:%M:%S")
    late = pd.concat(
        [
            valid[valid["user_id"] == user].assign(user_id=f"scanned-late-{n:02d}", updated_at=written)
            for n, user in enumerate(writers)
        ],
        ignore_index=True,
    )
    with engine.connect() as conn:
        last = conn.execute(sa.text(f"SELECT COALESCE(MAX(row_id), 0) FROM {table}")).scalar_one()
    late = late.assign(row_id=range(last + 1, last + 1 + len(late)))
    late.to_sql(table, engine, if_exists="append", index=False)
    return late


def main(argv: list[str] | None = None) -> None:
    """Seed a warehouse with the emulator's demo activities (used by docker-compose's init)."""
    import argparse

    from learnosity_devtools.emulator.seed import demo_templates

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--url", required=True, help="SQLAlchemy URL of the warehouse")
    parser.add_argument("--learners", type=int, default=2000)
    parser.add_argument("--table", default="learnosity_responses")
    args = parser.parse_args(argv)
    rows = sample_rows(demo_templates(), learners=args.learners)
    count = seed_warehouse(sa.create_engine(args.url), rows, args.table)
    print(f"seeded {count} rows into {args.table}")


if __name__ == "__main__":
    main()


def sample_blob_session(
    template: dict[str, Any], activity_id: str, user_id: str, revision: int, dt_saved: str, seed: int = 0
) -> dict[str, Any]:
    """A failed-submission session document answering the template's mcq and shorttext questions."""
    from learnosity_core.content.question_types import count_characters, encode_text

    rng = random.Random(f"{activity_id}/{user_id}/{seed}")
    responses: dict[str, Any] = {}
    for q in find_questions(template).values():
        if q.type == "mcq" and q.allowed_values:
            value: Any = [rng.choice(sorted(q.allowed_values))]
            responses[q.id] = {
                "value": value,
                "type": "array",
                "apiVersion": "v2.200.0",
                "revision": revision,
            }
        elif q.type == "shorttext":
            text = _text(rng, 2)
            responses[q.id] = {
                "value": encode_text(text),
                "type": "string",
                "characterCount": count_characters(text),
                "apiVersion": "v2.200.0",
                "revision": revision,
            }
    return {
        "session_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"failed/{activity_id}/{user_id}")),
        "user_id": user_id,
        "activity_id": activity_id,
        "dt_saved": dt_saved,
        "responses": responses,
    }


# Inner shapes a real blob may take (Learnosity does not document it): the one the project first
# assumed, identity nested in session/meta/activity objects, and camelCase keys without apiVersion.
BLOB_SHAPES = ("flat", "nested", "camel")


def reshape_blob_session(doc: dict[str, Any], shape: str) -> dict[str, Any]:
    """`sample_blob_session`'s document in one of `BLOB_SHAPES`."""
    if shape == "flat":
        return doc
    if shape == "nested":
        return {
            "meta": {"user_id": doc["user_id"], "activity": {"reference": doc["activity_id"]}},
            "session": {"id": doc["session_id"], "dt_saved": doc["dt_saved"], "responses": doc["responses"]},
        }
    if shape == "camel":
        return {
            "sessionId": doc["session_id"],
            "userId": doc["user_id"],
            "activityId": doc["activity_id"],
            "dtSaved": doc["dt_saved"],
            "responses": {
                rid: {k: v for k, v in response.items() if k != "apiVersion"}
                for rid, response in doc["responses"].items()
            },
        }
    raise ValueError(f"unknown blob shape {shape!r}; one of {', '.join(BLOB_SHAPES)}")


# The envelope broken every way that stops a blob being sent (each is quarantined by its name's reason).
MALFORMED_BLOBS: dict[str, bytes] = {
    "not-base64.txt": b"this is not base64 at all!",
    "not-utf8.txt": base64.b64encode(b"\xff\xfe\xfa not utf-8"),
    "not-json.txt": base64.b64encode(b"{session: broken"),
    "not-object.txt": base64.b64encode(json.dumps([{"session_id": "s1"}]).encode()),
    "empty.txt": b"",
    "binary-junk.bin": bytes(range(256)) * 4,
}


def write_sample_blobs(
    folder: Any, templates: Mapping[str, dict[str, Any]], learners: int = 20
) -> dict[str, int]:
    """Valid blobs (as copied: wrapped at 76 characters) in turn in each of `BLOB_SHAPES`, one older
    duplicate, and malformed files."""
    from learnosity_core.failed_submission.blob import encode_failed_session

    folder.mkdir(parents=True, exist_ok=True)
    written = {"valid": 0, "duplicates": 0, "malformed": 0}
    activity_id, template = next(iter(templates.items()))
    for n in range(learners):
        doc = sample_blob_session(
            template, activity_id, f"online-{n:04d}", 2, f"2026-11-21T10:{n % 60:02d}:00"
        )
        blob = encode_failed_session(reshape_blob_session(doc, BLOB_SHAPES[n % len(BLOB_SHAPES)]))
        wrapped = "\n".join(blob[i : i + 76] for i in range(0, len(blob), 76))
        (folder / f"session-{n:04d}.txt").write_text(f"  {wrapped}\n", encoding="ascii")
        written["valid"] += 1
    older = sample_blob_session(template, activity_id, "online-0000", 1, "2026-11-21T09:00:00", seed=1)
    (folder / "session-0000-older-copy.txt").write_text(encode_failed_session(older), encoding="ascii")
    written["duplicates"] += 1
    for name, content in MALFORMED_BLOBS.items():
        (folder / name).write_bytes(content)
        written["malformed"] += 1
    return written
