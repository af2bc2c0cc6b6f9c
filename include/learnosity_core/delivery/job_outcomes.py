"""Turn finished (or still unfinished) jobs into per-session ledger outcomes.

The documented `jobs` answer is `reference, type, status, dt_created, dt_completed`; what a job's
`data` holds is not documented. This module is the one place that reads it, and only as a hint:

- a `completed` job whose answer names no session accepted its sessions: they are recorded
  completed, and read-back verification (`verify.py`) then confirms or fails each one;
- per-session detail is used when the answer carries it in a shape recognised below; anything
  else is ignored, never a failure;
- `halted` fails the job's sessions, with the reason when the answer gives one;
- a job unknown to the API, or still unfinished when the wait gave up, fails its sessions.

Recognised detail, in `data` or in an object one level below it (`result`, `details`, ...):

- stored ids (`sessions_stored`, `stored_sessions`, `stored`, `succeeded`, `successful`): a list
  of session ids or of objects naming one. It counts as the complete list only when every entry
  names a session of the job; a session missing from it then was not stored.
- errors (`errors`, `failed`, `failures`, `rejected`, `sessions_failed`, `failed_sessions`): a
  list of objects naming the session by `session_id` or `index` (its position in the batch as
  sent) with `code` and `message`, a list of session ids, or an object keyed by session id.
- per-session results (`sessions`, `results`, or `data` itself as a list): objects (or an object
  keyed by session id) whose `status` says failed or rejected, whose `stored` is false, or that
  carry an `error`.
- a halt reason: `halt_reason`, `reason`, `message`, `error` or `errors` in `data` or on the job
  itself, or `data` as plain text.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from pydantic import BaseModel

from learnosity_core.dataapi.models import Job, JobStatus
from learnosity_core.delivery.ledger import Ledger, SessionOutcome, SessionStatus
from learnosity_core.delivery.staging import StoragePath, batch_file, read_batch

log = logging.getLogger(__name__)

_NESTED_KEYS = ("result", "detail", "details", "summary", "data")
_STORED_KEYS = ("sessions_stored", "stored_sessions", "stored", "succeeded", "successful")
_ERROR_KEYS = ("errors", "failed", "failures", "rejected", "sessions_failed", "failed_sessions")
_RESULT_KEYS = ("sessions", "results")
_SESSION_ID_KEYS = ("session_id", "sessionId")
_STATUS_KEYS = ("status", "state", "result")
_STORED_FLAG_KEYS = ("stored", "success", "succeeded")
_FAILED_STATUSES = frozenset(
    {"failed", "failure", "error", "errored", "rejected", "invalid", "halted", "not_stored"}
)
_REASON_KEYS = ("halt_reason", "reason", "message", "error", "errors")
_MAX_TEXTS = 3  # a reason made of many errors names the first few
_JOBS_PER_TRANSACTION = 200  # outcomes are written a few hundred jobs (about 10,000 sessions) at a time

SentOrder = Callable[[], Sequence[str]]


class JobReader(Protocol):
    """The one Data API read recording needs (the real client satisfies it)."""

    def get_jobs(self, references: Sequence[str]) -> list[Job]: ...


class RecordResult(BaseModel):
    """How a run's jobs ended, counted by session."""

    jobs: int
    completed: int
    failed: int


@dataclass(frozen=True)
class JobDetail:
    """What a completed job's answer says per session (nothing, when it names none)."""

    stored: frozenset[str] | None = None  # None: no complete list of stored sessions
    rejected: Mapping[str, str | None] = field(default_factory=dict)  # session id -> reason, if given
    unattributed: int = 0  # error entries that name no session of the job


class _Batch:
    """A job's sessions; their order as sent is fetched only when an entry names a position."""

    def __init__(self, session_ids: Sequence[str], sent_order: SentOrder | None) -> None:
        self.ids = frozenset(session_ids)
        self._sent_order = sent_order
        self._order: Sequence[str] | None = None

    def session_of(self, entry: Any) -> str | None:
        """The session of the job an entry names: the id itself, an object's id, or its `index`."""
        if isinstance(entry, str):
            return entry if entry in self.ids else None
        if not isinstance(entry, Mapping):
            return None
        for key in _SESSION_ID_KEYS:
            if isinstance(entry.get(key), str):
                return entry[key] if entry[key] in self.ids else None
        index = entry.get("index")
        if not isinstance(index, int) or isinstance(index, bool) or self._sent_order is None:
            return None
        if self._order is None:
            self._order = self._sent_order()
        if 0 <= index < len(self._order) and self._order[index] in self.ids:
            return self._order[index]
        return None


def _text(value: Any) -> str | None:
    """Readable text of an error-like value: text, `{code, message}`, a nested error, or a list."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, list):
        texts = [t for t in map(_text, value) if t]
        more = f" (and {len(texts) - _MAX_TEXTS} more)" if len(texts) > _MAX_TEXTS else ""
        return "; ".join(texts[:_MAX_TEXTS]) + more if texts else None
    if not isinstance(value, Mapping):
        return None
    code = value.get("code")
    code = code if isinstance(code, int | str) and not isinstance(code, bool) and code != "" else None
    message = _text(value.get("message"))
    if message is not None:
        return f"{code}: {message}" if code is not None else message
    nested = next((t for t in (_text(value.get(k)) for k in _REASON_KEYS) if t), None)
    return nested or (str(code) if code is not None else None)


def _containers(data: Any) -> list[Mapping[str, Any]]:
    """`data` and the objects one level below it that may hold the detail."""
    if not isinstance(data, Mapping):
        return []
    return [data, *(data[k] for k in _NESTED_KEYS if isinstance(data.get(k), Mapping))]


def _keyed(session_id: str, value: Any, text_key: str) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return {**value, "session_id": session_id}
    if isinstance(value, bool):
        return {"session_id": session_id, "stored": value}
    return {"session_id": session_id, text_key: value}


def _entries(value: Any, batch: _Batch, text_key: str) -> list[Any]:
    """A list as it is; an object keyed by session id as one entry per session; text as one entry."""
    if isinstance(value, list):
        return value
    if isinstance(value, Mapping):
        if batch.ids.intersection(value):
            return [_keyed(str(key), item, text_key) for key, item in value.items()]
        return [value]
    return [value] if isinstance(value, str) else []


def _says_not_stored(entry: Mapping[str, Any]) -> bool:
    status = next((entry[k] for k in _STATUS_KEYS if isinstance(entry.get(k), str)), "")
    return (
        status.lower() in _FAILED_STATUSES
        or any(entry.get(k) is False for k in _STORED_FLAG_KEYS)
        or _text(entry.get("error")) is not None
        or _text(entry.get("errors")) is not None
    )


def _all_named(entries: list[Any], batch: _Batch) -> frozenset[str] | None:
    """The sessions a stored list names, or None when any entry names none of the job's."""
    named = [batch.session_of(entry) for entry in entries]
    return None if None in named else frozenset(s for s in named if s is not None)


def read_detail(data: Any, session_ids: Sequence[str], sent_order: SentOrder | None = None) -> JobDetail:
    """The per-session detail a completed job's `data` carries, in any shape recognised above."""
    batch = _Batch(session_ids, sent_order)
    stored_lists: list[list[Any]] = []
    rejected: dict[str, str | None] = {}
    unattributed = 0
    results: list[Any] = list(data) if isinstance(data, list) else []
    for container in _containers(data):
        stored_lists += [container[k] for k in _STORED_KEYS if isinstance(container.get(k), list)]
        for key in _ERROR_KEYS:
            for entry in _entries(container.get(key), batch, "message"):
                session_id = batch.session_of(entry)
                if session_id is None:
                    unattributed += 1
                else:
                    rejected.setdefault(session_id, None if isinstance(entry, str) else _text(entry))
        for key in _RESULT_KEYS:
            results += _entries(container.get(key), batch, "status")
    for entry in results:
        session_id = batch.session_of(entry)
        if session_id is not None and isinstance(entry, Mapping) and _says_not_stored(entry):
            rejected.setdefault(session_id, _text(entry))
    complete = [ids for ids in (_all_named(entries, batch) for entries in stored_lists) if ids is not None]
    stored = frozenset[str]().union(*complete) if complete else None
    return JobDetail(stored=stored, rejected=rejected, unattributed=unattributed)


def halt_reason(job: Job) -> str | None:
    """The reason a halted job's answer gives, wherever it plausibly put it."""
    if isinstance(job.data, str | list):
        return _text(job.data)
    for place in (*_containers(job.data), job.model_extra or {}):
        reason = next((t for t in (_text(place.get(k)) for k in _REASON_KEYS) if t), None)
        if reason is not None:
            return reason
    return None


def session_outcomes(
    job: Job | None, session_ids: Sequence[str], reference: str, sent_order: SentOrder | None = None
) -> list[SessionOutcome]:
    """Each session's outcome: accepted unless the answer says otherwise, failed when the job halted,
    is unknown or unfinished. `sent_order` gives the batch as sent (to read errors by `index`)."""
    if job is None:
        return [
            SessionOutcome(s, SessionStatus.FAILED, f"job {reference} unknown to the Data API")
            for s in session_ids
        ]
    status = JobStatus(job.status)
    if status == JobStatus.HALTED:
        message = f"job {reference} halted: {halt_reason(job) or 'no reason given'}"
        return [SessionOutcome(s, SessionStatus.FAILED, message) for s in session_ids]
    if not status.is_terminal:
        message = f"job {reference} still {status.value} when the wait timed out"
        return [SessionOutcome(s, SessionStatus.FAILED, message) for s in session_ids]
    detail = read_detail(job.data, session_ids, sent_order)
    if detail.unattributed:
        log.warning(
            "Job %s: %d error entries name no session of its batch; read-back decides for them",
            reference,
            detail.unattributed,
        )
    outcomes = []
    for sid in session_ids:
        if sid in detail.rejected:
            error = detail.rejected[sid] or f"job {reference} rejected this session"
            outcomes.append(SessionOutcome(sid, SessionStatus.FAILED, error))
        elif detail.stored is not None and sid not in detail.stored:
            error = f"job {reference} completed without storing this session"
            outcomes.append(SessionOutcome(sid, SessionStatus.FAILED, error))
        else:
            outcomes.append(SessionOutcome(sid, SessionStatus.COMPLETED))
    return outcomes


def _sent_orders(
    ledger: Ledger, stage: StoragePath, dag_id: str, run_id: str
) -> Callable[[str], Sequence[str]]:
    """job reference -> its session ids as sent, read from the staged batch (ledger read once, lazily)."""
    batches: dict[str, str] = {}

    def sent_order(reference: str) -> Sequence[str]:
        if not batches:
            batches.update(
                (row.job_reference, row.batch_id)
                for row in ledger.sessions_of_run(dag_id, run_id)
                if row.job_reference is not None and row.batch_id is not None
            )
        return read_batch(stage, batch_file(batches[reference])).session_ids

    return sent_order


def record_jobs(
    client: JobReader, ledger: Ledger, dag_id: str, run_id: str, stage: StoragePath | None = None
) -> RecordResult:
    """Read every job of the run whose sessions no answer settled yet, once, and write each session's
    outcome (and job errors) to the ledger; jobs the submit already recorded while sending
    (`follow`) are not read again. With the run's `stage`, errors that name a session only by its
    position in the batch count too."""
    jobs_sessions = ledger.unsettled_jobs_of_run(dag_id, run_id)
    jobs = {job.reference: job for job in client.get_jobs(list(jobs_sessions))} if jobs_sessions else {}
    orders = _sent_orders(ledger, stage, dag_id, run_id) if stage is not None else None
    counts: Counter[str] = Counter()
    pending: list[tuple[str, str, Sequence[SessionOutcome]]] = []
    for reference, carried in jobs_sessions.items():
        job = jobs.get(reference)
        sent_order = partial(orders, reference) if orders is not None else None
        # The whole batch is read (its answer may name sessions by position); only what no
        # answer settled is written: a read-back difference is never overwritten by the job.
        outcomes = [
            outcome
            for outcome in session_outcomes(job, carried.session_ids, reference, sent_order)
            if outcome.session_id in carried.unsettled
        ]
        pending.append((reference, str(job.status) if job is not None else "unknown", outcomes))
        counts.update(outcome.status.value for outcome in outcomes)
        if len(pending) >= _JOBS_PER_TRANSACTION:
            ledger.record_jobs(pending)
            pending = []
    ledger.record_jobs(pending)
    result = RecordResult(
        jobs=len(jobs_sessions),
        completed=counts[SessionStatus.COMPLETED.value],
        failed=counts[SessionStatus.FAILED.value],
    )
    log.info(
        "Recorded %d jobs: %d sessions completed, %d failed", result.jobs, result.completed, result.failed
    )
    return result
