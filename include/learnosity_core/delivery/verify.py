"""Read-back verification: what the Data API stored against what we sent."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
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

# Read-backs in flight at once: each pages through up to 1,000 sessions 50 at a time, so eight
# keep well under the GET limit (1,000 per 5 s) while no single slow read holds verification up.
READ_CONCURRENCY = 8


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


def can_read_back(session_id: str, status: SessionStatus) -> bool:
    """A completed session can be read back by its id; a blob staged under a stand-in key (it
    named no session) cannot."""
    return status == SessionStatus.COMPLETED and not session_id.startswith(STAND_IN_PREFIX)


def read_groups(batches: Mapping[str, set[str]]) -> Iterator[list[str]]:
    """Batches grouped so that each group's sessions fit one read-back request (ids per read)."""
    group: list[str] = []
    count = 0
    for batch_id in sorted(batches):
        size = len(batches[batch_id])
        if group and count + size > MAX_SESSION_IDS_PER_READ:
            yield group
            group, count = [], 0
        group.append(batch_id)
        count += size
    if group:
        yield group


def _sent(stage: StoragePath, batch_ids: Sequence[str], completed: Mapping[str, set[str]]) -> dict[str, Any]:
    """session id -> what to compare on read-back, for these batches' completed sessions: the entry
    sent (`from_template`), or nothing but the session's presence (a failed-submission blob,
    whose inner shape is not documented; one naming no session is not read back at all)."""
    sent: dict[str, Any] = {}
    for batch_id in batch_ids:
        batch = read_batch(stage, batch_file(batch_id))
        for session_id, entry in zip(batch.session_ids, batch.entries, strict=True):
            if session_id in completed[batch_id]:
                sent[session_id] = entry if isinstance(entry, dict) else {}
    return sent


def read_back(
    client: SessionReader, stage: StoragePath, batch_ids: Sequence[str], completed: Mapping[str, set[str]]
) -> dict[str, str | None]:
    """One read-back (up to 1,000 sessions, paged): its sessions sent and stored, compared as they come."""
    sent = _sent(stage, batch_ids, completed)
    found: dict[str, str | None] = {}
    for record in client.iter_session_responses(session_ids=list(sent)):
        if record.session_id in sent:
            found[record.session_id] = compare_session(sent[record.session_id], record.model_dump())
    return {sid: found[sid] if sid in found else compare_session(entry, None) for sid, entry in sent.items()}


def verify_run(
    client: SessionReader,
    ledger: Ledger,
    stage: StoragePath,
    dag_id: str,
    run_id: str,
    *,
    concurrency: int = READ_CONCURRENCY,
) -> VerifyResult:
    """Read back every completed session of the run, compare, and record the result per session
    (one missing or different on read-back is marked failed, so the next run sends it again).

    Reads of up to 1,000 sessions each run on `concurrency` threads (the client paces them within
    the GET limit); each read's sent entries and stored records are compared and recorded as it
    ends, so memory holds a few reads, never the run.
    """
    # Only the sessions still to read back: those the submit followed were verified as it sent.
    completed = ledger.unverified_of_run(dag_id, run_id, STAND_IN_PREFIX)
    progress = Progress(sum(len(ids) for ids in completed.values()), "read back", log, unit="sessions")
    verified = mismatched = 0

    def read(batch_ids: list[str]) -> dict[str, str | None]:
        return read_back(client, stage, batch_ids, completed)

    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="read-back") as pool:
        # At most `concurrency` reads in flight, plus as many finished and waiting to be recorded.
        reads = read_groups(completed)
        pending = [pool.submit(read, group) for group in islice(reads, 2 * max(1, concurrency))]
        while pending:
            results = pending.pop(0).result()
            pending += [pool.submit(read, group) for group in islice(reads, 1)]
            ledger.record_verification(results)
            problems = sum(1 for problem in results.values() if problem)
            verified += len(results) - problems
            mismatched += problems
            progress.advance(len(results))
    log.info(
        "Verified %d sessions; %d missing or different on read-back (failed: the next run sends them again)",
        verified,
        mismatched,
    )
    return VerifyResult(verified=verified, mismatched=mismatched)
