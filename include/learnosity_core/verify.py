"""Read-back verification: what the Data API stored against what we sent."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

COMPARED_FIELDS = ("type", "value", "characterCount", "wordCount", "responses")


def compare_session(sent: Mapping[str, Any], stored: Mapping[str, Any] | None) -> str | None:
    """None when every sent response is stored as sent, else the first difference."""
    if stored is None:
        return "not found on read-back"
    by_question = {r.get("response_id"): r.get("response") or {} for r in stored.get("responses", [])}
    for response in sent.get("responses", []):
        qid = response["question_id"]
        if qid not in by_question:
            return f"question {qid} missing on read-back"
        got = by_question[qid]
        for field in COMPARED_FIELDS:
            if field in response and got.get(field) != response[field]:
                return f"question {qid}: {field} differs on read-back"
    return None


def compare_sessions(
    sent: Mapping[str, Mapping[str, Any]], stored: Iterable[Mapping[str, Any]]
) -> dict[str, str | None]:
    """session id -> None (verified) or the difference, for every sent session."""
    found = {s["session_id"]: s for s in stored if s.get("session_id") in sent}
    return {sid: compare_session(entry, found.get(sid)) for sid, entry in sent.items()}
