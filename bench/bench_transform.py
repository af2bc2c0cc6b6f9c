"""`make bench-transform`: the vectorised transform against a straightforward per-row one.

A synthetic warehouse of 1,000,000 rows (BENCH_ROWS; 8 paper tests of 20 questions covering all
13 types, realistic text lengths, ~4% unattempted, re-scanned duplicates and ~0.2% invalid rows)
is streamed through `transform_chunks` in chunks of 50,000 (BENCH_CHUNK_ROWS), as the DAG reads
the warehouse. Generating rows is not timed. In the same run a per-row implementation (iterrows
and dicts, the shared rules called row by row) transforms the first 50,000 rows
(BENCH_BASELINE_ROWS) of the same data; its rate is extrapolated. The last line reads:
`transform: N rows/s, R× per-row baseline, peak RSS M MB`.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pandas as pd

from learnosity_core.content.question_types import (
    CHARACTER_COUNT_TYPES,
    ENCODED_TEXT_TYPES,
    RESPONSE_KIND,
    WORD_COUNT_TYPES,
    count_characters,
    count_words,
    encode_text,
)
from learnosity_core.content.questions import find_questions
from learnosity_core.content.responses import check_response
from learnosity_core.template_submission.transform import TemplateIndex, derive_session_id, transform_chunks
from learnosity_devtools.synthetic import synthetic_rows, synthetic_templates

ROWS = int(os.environ.get("BENCH_ROWS", "1000000"))
CHUNK_ROWS = int(os.environ.get("BENCH_CHUNK_ROWS", "50000"))
BASELINE_ROWS = int(os.environ.get("BENCH_BASELINE_ROWS", "50000"))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value != "" else None


def per_row_baseline(frame: pd.DataFrame, templates: dict[str, dict[str, Any]]) -> list[str]:
    """Session entries the obvious way: one row at a time into dicts, then json.dumps per session."""
    questions = {activity_id: find_questions(t) for activity_id, t in templates.items()}
    sessions: dict[tuple[str, str, str], dict[str, Any]] = {}
    held_back: set[tuple[str, str, str]] = set()
    for _, row in frame.iterrows():
        activity_id, user_id = row["activity_id"], row["user_id"]
        session_id = _text(row["session_id"]) or derive_session_id(activity_id, user_id, str(row["attempt"]))
        key = (activity_id, user_id, session_id)
        entry = sessions.setdefault(
            key, {"user_id": user_id, "activity_id": activity_id, "session_id": session_id, "responses": []}
        )
        template_questions = questions.get(activity_id, {})
        question = template_questions.get(row["question_id"])
        if question is None:
            held_back.add(key)
            continue
        raw = _text(row["response"])
        obj: dict[str, Any] = {"question_id": question.id, "type": RESPONSE_KIND[question.type]}
        if raw is None:
            obj["value"] = None
        elif question.type in ENCODED_TEXT_TYPES:
            obj["value"] = encode_text(raw)
            if question.type in CHARACTER_COUNT_TYPES:
                obj["characterCount"] = count_characters(raw)
            if question.type in WORD_COUNT_TYPES:
                obj["wordCount"] = count_words(raw, question.type)
        else:
            try:
                obj["value"] = json.loads(raw) if obj["type"] == "array" else raw
                if _text(row["response_boxes"]) is not None:
                    obj["responses"] = json.loads(row["response_boxes"])
            except ValueError:
                held_back.add(key)
                continue
            if check_response(template_questions, obj) is not None:
                held_back.add(key)
                continue
        entry["responses"].append(obj)
    entries = []
    for key, entry in sessions.items():
        if key not in held_back:
            text = json.dumps(entry, ensure_ascii=False, separators=(",", ":"))
            hashlib.sha256(text.encode("utf-8")).hexdigest()
            entries.append(text)
    return entries


class _Untimed:
    """Wraps the row generator so the time spent generating rows can be taken out of the measurement."""

    def __init__(self, chunks: Iterator[pd.DataFrame]) -> None:
        self.chunks = chunks
        self.seconds = 0.0
        self.cpu_seconds = 0.0
        self.rows = 0

    def __iter__(self) -> Iterator[pd.DataFrame]:
        while True:
            start, cpu_start = time.perf_counter(), time.process_time()
            chunk = next(self.chunks, None)
            self.seconds += time.perf_counter() - start
            self.cpu_seconds += time.process_time() - cpu_start
            if chunk is None:
                return
            self.rows += len(chunk)
            yield chunk


def main() -> None:
    templates = synthetic_templates()
    index = TemplateIndex(templates)
    questions = sum(len(find_questions(t)) for t in templates.values())
    print(
        f"synthetic warehouse: {ROWS:,} rows, {len(templates)} activities x {questions // len(templates)}"
        f" questions (all 13 types) plus an activity without template, streamed in chunks of {CHUNK_ROWS:,}"
    )

    source = _Untimed(synthetic_rows(templates, ROWS, chunk_rows=CHUNK_ROWS))
    sessions = sent_rows = 0
    reasons: Counter[str] = Counter()
    start, cpu_start = time.perf_counter(), time.process_time()
    for result in transform_chunks(source, index):
        sessions += len(result.sessions)
        sent_rows += int(result.sessions["row_count"].sum())
        reasons.update(result.quarantine["reason"].tolist())
    seconds = time.perf_counter() - start - source.seconds
    cpu_seconds = time.process_time() - cpu_start - source.cpu_seconds
    quarantined = sum(reasons.values())
    rate = source.rows / seconds
    print(
        f"vectorised: {seconds:.2f} s ({cpu_seconds:.2f} s CPU) for {source.rows:,} rows"
        f" (generating them took {source.seconds:.1f} s, not timed)"
    )
    print(
        f"  {sessions:,} sessions ready ({sent_rows:,} rows),"
        f" {quarantined:,} rows quarantined: {dict(reasons)}"
    )
    if sent_rows + quarantined != source.rows:
        raise SystemExit(f"conservation broken: {sent_rows} + {quarantined} != {source.rows}")
    print(f"  conservation: {source.rows:,} rows in = {sent_rows:,} sent + {quarantined:,} quarantined")

    sample = next(synthetic_rows(templates, ROWS, chunk_rows=BASELINE_ROWS))  # the same rows, first chunk
    start = time.perf_counter()
    per_row_baseline(sample, templates)
    baseline_rate = len(sample) / (time.perf_counter() - start)
    print(
        f"per-row baseline (iterrows + dicts): timed on the first {len(sample):,} rows of the same data,"
        f" {baseline_rate:,.0f} rows/s (rate extrapolated to the full run)"
    )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    print(
        f"transform: {rate:.0f} rows/s, {rate / baseline_rate:.1f}× per-row baseline,"
        f" peak RSS {peak_mb:.0f} MB"
    )


if __name__ == "__main__":
    main()
