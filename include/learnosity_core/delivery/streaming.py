"""Send while planning: a plan's batches go out as soon as they are staged, so the API-bound
sending starts with the first chunk read instead of after the last one.

Only while nothing read so far would make the run wait for a review: approval not requested,
at most `approval_above_sessions` sessions in the whole window (counted before reading), and the
share quarantined so far within `approval_above_quarantine_share`. Once a chunk passes a
threshold the stream closes for good and the rest waits for the review as before. When the plan
ends, batches not yet started are dropped: the submit tasks send them (and resume the ones that
went, so their jobs are still waited for and recorded).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from learnosity_core.delivery.follow import JobFollower
from learnosity_core.delivery.ledger import Ledger
from learnosity_core.delivery.review import PlanFigures, ReviewThresholds, decide_review
from learnosity_core.delivery.staging import StoragePath
from learnosity_core.delivery.submission import BatchSender, ShardClient

log = logging.getLogger(__name__)


class PlanStream:
    """Hands staged batches to a sender while the run needs no review (`offer`)."""

    def __init__(self, sender: BatchSender, thresholds: ReviewThresholds, requested: bool) -> None:
        self._sender = sender
        self._thresholds = thresholds
        self._requested = requested
        self.closed: str | None = None  # why batches are no longer sent while planning
        self.offered: list[str] = []

    def begin(self, rows: int, count_sessions: Callable[[], int]) -> None:
        """Close at once when the run will wait for a review whatever its rows hold: approval
        requested, or more sessions in the window than the threshold (counted only when there
        are more rows than that: a session has at least one row)."""
        limit = self._thresholds.approval_above_sessions
        if self._requested:
            self._close("require_approval is on")
        elif rows > limit and (most := count_sessions()) > limit:
            self._close(f"the window holds up to {most:,} sessions, above approval_above_sessions {limit:,}")

    def offer(self, names: Sequence[str], so_far: PlanFigures) -> None:
        """Send these newly staged batches unless what was planned so far calls for a review."""
        if self.closed or not names:
            return
        decision = decide_review(so_far, self._thresholds, requested=False)
        if decision.needed:
            self._close(decision.reason)
            return
        try:
            self._sender.send(names)
        except Exception as exc:  # the submit tasks send what is left, and report a lasting fault
            self._close(f"sending failed ({type(exc).__name__}: {exc})")
            return
        self.offered += names

    def _close(self, reason: str) -> None:
        self.closed = reason
        log.info("Sending while planning stopped: %s; the rest is sent after the review", reason)
        self._sender.stop()

    @property
    def sessions_sent(self) -> int:
        return self._sender.sessions


@contextmanager
def plan_stream(
    client: ShardClient,
    ledger: Ledger,
    stage: StoragePath,
    thresholds: ReviewThresholds,
    *,
    requested: bool,
    verify: bool,
    concurrency: int = 4,
    ignore_response_revisions: bool | None = None,
) -> Iterator[PlanStream]:
    """A stream for one plan; leaving it drops what was not started and says what went."""
    # No linger: jobs still open when the plan ends are followed by the run's own steps.
    with JobFollower(client, ledger, stage, verify=verify, linger_s=0.0) as follower:
        sender = BatchSender(
            client,
            ledger,
            stage,
            name="plan-send",
            concurrency=concurrency,
            ignore_response_revisions=ignore_response_revisions,
            follower=follower,
        )
        stream = PlanStream(sender, thresholds, requested)
        try:
            yield stream
        finally:
            sender.stop()
            log.info(
                "Sent while planning: %d batches (%d sessions), %d left to the submit tasks%s",
                sender.posted,
                sender.sessions,
                len(stream.offered) - sender.posted - sender.resumed,
                f"; stopped: {stream.closed}" if stream.closed else "",
            )
