"""Trigger that waits in the triggerer for many Data API jobs at once, without a worker slot.

It only polls (`jobs` get, up to 1000 references per request); submissions happen on workers,
so a triggerer restart can never re-post a batch.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from learnosity_core.dataapi.errors import RateLimitedError, TransientError
from learnosity_core.dataapi.models import JobStatus
from learnosity_core.delivery.run_progress import JobsWait
from learnosity_provider.hooks import LearnosityAsyncHook


class LearnosityJobsTrigger(BaseTrigger):
    """Fires once every job is terminal (`completed` or `halted`) or the deadline passes.

    The event carries only the references still unfinished, so its size stays small; the
    worker reads the jobs' results itself. With `progress` (the sessions each job carries, from the
    sensor) every poll logs the run's counters: sessions processed, rate and time left.
    """

    def __init__(
        self,
        conn_id: str,
        job_references: list[str],
        poll_interval: float = 10.0,
        deadline: float | None = None,
        progress: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.conn_id = conn_id
        self.job_references = job_references
        self.poll_interval = poll_interval
        self.deadline = deadline
        self.progress = progress

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "conn_id": self.conn_id,
                "job_references": self.job_references,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "progress": self.progress,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = LearnosityAsyncHook(self.conn_id)
        pending = list(self.job_references)
        wait = JobsWait.model_validate(self.progress) if self.progress else None
        started, processed_before = time.monotonic(), wait.processed if wait else 0
        while True:
            try:
                jobs = await hook.get_jobs(pending)
                finished = {j.reference for j in jobs if JobStatus(j.status).is_terminal}
                pending = [ref for ref in pending if ref not in finished]
            except (TransientError, RateLimitedError) as exc:
                self.log.warning("Polling %d jobs failed for now (%s); will poll again", len(pending), exc)
            if wait is not None:
                still = set(pending)
                wait.finished_jobs = [ref for ref in wait.job_sessions if ref not in still]
                gained, elapsed = wait.processed - processed_before, time.monotonic() - started
                self.log.info("%s", wait.line(rate=gained / elapsed if gained and elapsed > 0 else None))
            if not pending:
                yield TriggerEvent({"status": "done", "pending": []})
                return
            if self.deadline is not None and time.time() >= self.deadline:
                yield TriggerEvent({"status": "timeout", "pending": pending})
                return
            self.log.info("%d of %d jobs still running", len(pending), len(self.job_references))
            await asyncio.sleep(self.poll_interval)
