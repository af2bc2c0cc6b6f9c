"""Read-back verification: what the Data API stored against what we sent."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from pydantic import BaseModel

from learnosity_core.dataapi.limits import MAX_SESSION_IDS_PER_READ
from learnosity_core.dataapi.models import SessionRecord
from learnosity_core.delivery.ledger import Ledger, SessionStatus
from learnosity_core.delivery.progress import Progress
from learnosity_core.delivery.staging import StoragePath, batch_file, read_batch

log = logging.getLogger(__name__)


class SessionReader(Protocol):
    """The one Data API read verification needs (the real client satisfies it)."""

    def iter_session_responses(
        self, *, session_ids: Sequence[str] | None = None
    ) -> Iterator[SessionRecord]: ...


class VerifyResult(BaseModel):
    verified: int
    mismatched: int


# A failed-submission blob that names no session is staged under a stand-in key starting with this:
# there is no session id to read back, so its job's answer is all there is to go by.
STAND_IN_PREFIX = "blob:"

# What we send in a response object (`responses`: clozeformula's boxes). A stored response also
# carries what the service adds (revision, apiVersion, timestamps, score, ...): never compared.
COMPARED_FIELDS = ("type", "value", "characterCount", "wordCount", "responses")


def compare_session(sent: Mapping[str, Any], stored: Mapping[str, Any] | None) -> str | None:
    """None when every sent response is stored as sent (sent fields only), else the first difference."""
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


def sent_sessions(ledger: Ledger, stage: StoragePath, run_id: str) -> dict[str, Mapping[str, Any]]:
    """session id -> what to compare on read-back, for the run's completed sessions: the entry
    sent (`from_template`), or nothing but the session's presence (a failed-submission blob,
    whose inner shape is not documented; one naming no session is not read back at all)."""
    completed = {
        row.session_id: row.batch_id
        for row in ledger.sessions_of_run(run_id)
        if row.status == SessionStatus.COMPLETED
        and row.batch_id is not None
        and not row.session_id.startswith(STAND_IN_PREFIX)
    }
    sent: dict[str, Mapping[str, Any]] = {}
    for batch_id in sorted(set(completed.values())):
        batch = read_batch(stage, batch_file(batch_id))
        for session_id, entry in zip(batch.session_ids, batch.entries, strict=True):
            if session_id in completed:
                sent[session_id] = entry if isinstance(entry, dict) else {}
    return sent


def verify_run(client: SessionReader, ledger: Ledger, stage: StoragePath, run_id: str) -> VerifyResult:
    """Read back every completed session of the run, compare, and record the result per session
    (one missing or different on read-back is marked failed, so the next run sends it again)."""
    sent = sent_sessions(ledger, stage, run_id)
    ids = list(sent)
    progress = Progress(len(ids), "read back", log, unit="sessions")
    stored: list[dict[str, Any]] = []
    for start in range(0, len(ids), MAX_SESSION_IDS_PER_READ):
        for record in client.iter_session_responses(
            session_ids=ids[start : start + MAX_SESSION_IDS_PER_READ]
        ):
            stored.append(record.model_dump())
            progress.advance()
    results = compare_sessions(sent, stored)
    ledger.record_verification(results)
    mismatched = sum(1 for problem in results.values() if problem)
    log.info(
        "Verified %d sessions; %d missing or different on read-back (failed: the next run sends them again)",
        len(results) - mismatched,
        mismatched,
    )
    return VerifyResult(verified=len(results) - mismatched, mismatched=mismatched)
