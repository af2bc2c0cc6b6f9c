"""Jobs: created by `SET /sessions`, moved queued -> running -> completed (or halted) by a worker thread.

A job is `running` from half its delay and finishes at its full delay, measured from creation in
wall-clock time stored with the job; after a restart, jobs whose time has passed are simply
processed at once, so nothing accepted before the restart is lost.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid

from learnosity_devtools.emulator.content import check_sessions
from learnosity_devtools.emulator.models import JobResult
from learnosity_devtools.emulator.payloads import SetSessions
from learnosity_devtools.emulator.store import DueJob, Store

log = logging.getLogger(__name__)
_IDLE_WAIT_S = 1.0


def create_job(
    store: Store,
    consumer_key: str,
    raw_request: str,
    request: SetSessions,
    delay_s: float,
    halt_reason: str | None,
) -> str:
    """Commit the raw request with a new queued job; its reference."""
    reference = str(uuid.uuid4())
    now = time.time()
    store.create_job(
        reference=reference,
        consumer_key=consumer_key,
        request=raw_request,
        result=JobResult(data_format=request.data_format, sessions_total=len(request.data)),
        created_at=now,
        run_at=now + delay_s / 2,
        complete_at=now + delay_s,
        halt_reason=halt_reason,
    )
    return reference


def process_job(store: Store, job: DueJob) -> JobResult:
    """Validate the job's sessions and store the valid ones; a halted job stores nothing."""
    request = SetSessions.model_validate_json(job.request)
    result = JobResult(data_format=request.data_format, sessions_total=len(request.data))
    now = time.time()
    if job.halt_reason is not None:
        result = result.model_copy(update={"halt_reason": job.halt_reason})
        store.halt_job(job.reference, result, now)
        return result
    writes, errors = check_sessions(request)
    return store.complete_job(
        job.reference,
        result.model_copy(update={"errors": errors}),
        writes,
        request.ignore_response_revisions,
        now,
    )


class JobRunner:
    """The background worker; `wake()` after creating a job so a zero delay completes at once."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="emulator-jobs", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                wait = self._advance()
            except Exception:
                log.exception("Job worker failed; retrying")
                wait = _IDLE_WAIT_S
            self._wake.wait(wait)

    def _advance(self) -> float:
        """Process every due job; seconds until the next one is due."""
        for job in self._store.start_due_jobs(time.time()):
            if self._stopping.is_set():
                return 0.0
            try:
                result = process_job(self._store, job)
            except Exception as exc:
                log.exception("Job %s failed", job.reference)
                result = JobResult(
                    data_format="unknown", sessions_total=0, halt_reason=f"internal error: {exc}"
                )
                self._store.halt_job(job.reference, result, time.time())
            log.debug(
                "Job %s: %d stored, %d errors", job.reference, len(result.sessions_stored), len(result.errors)
            )
        due = self._store.next_due()
        return _IDLE_WAIT_S if due is None else min(_IDLE_WAIT_S, max(0.0, due - time.time()))
