"""Follow a shard's jobs while it still sends: record each job's outcome and read its sessions back
as soon as the job ends, so recording and verification overlap the submit instead of following it.

The submit step is bound by the SET limit; job polls and read-backs use the separate GET limits,
so following costs the shard no sending time. After its last post a shard follows on while its
jobs keep ending (one ended within `linger_s`; at most `MAX_LINGER_S`): slow jobs that still
progress are recorded and read back here, as they end, rather than all after the run's wait. What
is not finished when it leaves is left to the run's `record_jobs` and `verify` tasks, which skip
what is already recorded and verified. Following never fails the shard: an error is logged and
its job is left to those tasks.

Only batches posted whole are followed: a batch halved after a refusal has jobs of several batch
ids that the run's tasks sort out from the ledger. A batch posted earlier (by the plan while it
planned, or by a killed try) is followed when its job's answer is not recorded yet.
"""

from __future__ import annotations

import logging
import threading
import time
from functools import partial
from types import TracebackType
from typing import Protocol

from learnosity_core.dataapi.models import JobStatus
from learnosity_core.delivery.job_outcomes import JobReader, session_outcomes
from learnosity_core.delivery.ledger import Ledger, SessionOutcome
from learnosity_core.delivery.staging import StoragePath, batch_file, read_batch
from learnosity_core.delivery.verify import SessionReader, can_read_back, read_back, read_groups

log = logging.getLogger(__name__)

POLL_S = 2.0  # jobs take seconds; one GET jobs per poll for every open job of the shard
FINISHING_POLL_S = 0.5
LINGER_S = 10.0  # after the last post, while jobs keep ending: none ended this long, it leaves
# Then the deferrable wait, which holds no worker slot, takes over whatever is still open.
MAX_LINGER_S = 600.0


class FollowClient(JobReader, SessionReader, Protocol):
    """The reads following needs (the real client satisfies it)."""


class JobFollower:
    """A background thread per shard: `posted` hands it each job; leaving the `with` block waits
    for the open ones while they keep ending (see the module)."""

    def __init__(
        self,
        client: FollowClient,
        ledger: Ledger,
        stage: StoragePath,
        *,
        verify: bool,
        poll_s: float = POLL_S,
        linger_s: float = LINGER_S,
    ) -> None:
        self._client = client
        self._ledger = ledger
        self._stage = stage
        self._verify = verify
        self._poll_s = poll_s
        self._linger_s = linger_s
        self._open: dict[str, str] = {}  # job reference -> batch id
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._done_posting = threading.Event()
        self._done_at: float | None = None  # when the last batch was out
        self._progress_at = 0.0  # when following last found jobs ended, or recorded some
        self._thread = threading.Thread(target=self._follow, name="follow-jobs", daemon=True)
        self.recorded = self.verified = self.mismatched = 0

    def __enter__(self) -> JobFollower:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._done_at = time.monotonic()
        self._done_posting.set()
        self._wake.set()
        self._thread.join(timeout=MAX_LINGER_S + 60)
        with self._lock:
            left = len(self._open)
        log.info(
            "Followed while sending: %d jobs recorded, %d sessions verified, %d differed on read-back;"
            " %d jobs left to record_jobs and verify",
            self.recorded,
            self.verified,
            self.mismatched,
            left,
        )

    def posted(self, batch_id: str, job_reference: str) -> None:
        """Follow the job of a batch posted whole, in one request."""
        with self._lock:
            self._open[job_reference] = batch_id

    def _follow(self) -> None:
        while True:
            finishing = self._done_posting.is_set()
            with self._lock:
                open_jobs = dict(self._open)
            if open_jobs:
                try:
                    self._settle(open_jobs)
                except Exception as exc:  # the run's own tasks record and verify what is left
                    log.warning("Following jobs paused after an error (%s): %s", type(exc).__name__, exc)
            with self._lock:
                left = bool(self._open)
            if finishing and (not left or self._time_to_leave()):
                return
            # Once the last batch is out, only its jobs are left: look more often.
            self._wake.wait(min(self._poll_s, FINISHING_POLL_S) if finishing else self._poll_s)
            self._wake.clear()

    def _time_to_leave(self) -> bool:
        """Once the last batch is out: no progress for `linger_s`, or `MAX_LINGER_S` passed."""
        if self._done_at is None:
            return False
        now = time.monotonic()
        quiet_since = max(self._done_at, self._progress_at)
        return now >= quiet_since + self._linger_s or now >= self._done_at + MAX_LINGER_S

    def _settle(self, open_jobs: dict[str, str]) -> None:
        """Record and read back every open job that has ended: their outcomes in one write, their
        sessions read back up to 1,000 a request (as `verify` reads), until it is time to leave:
        a long pass, even one begun before the last batch went out, must not hold up the end of
        sending; what is left stays open for the run's tasks."""
        ended = {
            open_jobs[job.reference]: job
            for job in self._client.get_jobs(list(open_jobs))
            if JobStatus(job.status).is_terminal and job.reference in open_jobs
        }
        if ended:
            self._progress_at = time.monotonic()
        outcomes_of: dict[str, list[SessionOutcome]] = {}
        for batch_id, job in ended.items():
            sent = read_batch(self._stage, batch_file(batch_id)).session_ids  # as posted: by position
            outcomes_of[batch_id] = session_outcomes(job, sent, job.reference, partial(list, sent))
        completed = {
            batch_id: ids
            for batch_id, outcomes in outcomes_of.items()
            if (ids := {o.session_id for o in outcomes if can_read_back(o.session_id, o.status)})
        }
        for group in read_groups({b: completed.get(b, set()) for b in ended}):
            if self._time_to_leave():
                return
            self._ledger.record_jobs(
                [(ended[b].reference, str(ended[b].status), outcomes_of[b]) for b in group]
            )
            self.recorded += len(group)
            reads = {b: completed[b] for b in group if b in completed}
            if self._verify and reads:
                results = read_back(self._client, self._stage, list(reads), reads)
                self._ledger.record_verification(results)
                problems = sum(1 for problem in results.values() if problem)
                self.verified += len(results) - problems
                self.mismatched += problems
            with self._lock:
                for batch_id in group:
                    del self._open[ended[batch_id].reference]
            self._progress_at = time.monotonic()
