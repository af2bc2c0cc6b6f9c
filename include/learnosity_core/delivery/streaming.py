"""Send while planning: a plan's batches go out as soon as they are staged, so the API-bound
sending starts with the first chunk read instead of after the last one.

Only while nothing read so far would make the run wait for a review: approval not requested,
at most `approval_above_sessions` sessions in the whole window (counted before a batch goes), and the
share quarantined so far within `approval_above_quarantine_share`. Once a chunk passes a
threshold the stream closes for good and the rest waits for the review as before. When planning
ends, the batches handed over are still sent before the plan task ends: planning no longer takes
the CPU, so they go at the limit, with no gap while the submit tasks start. When the plan fails
or the stream closes, batches not yet started are dropped instead: the submit tasks send them
(and resume the ones that went, so their jobs are still waited for and recorded).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Protocol

from learnosity_core.dataapi.client import DataApiClient
from learnosity_core.dataapi.settings import DataApiSettings
from learnosity_core.delivery.follow import JobFollower
from learnosity_core.delivery.ledger import Ledger
from learnosity_core.delivery.progress import Progress
from learnosity_core.delivery.review import PlanFigures, ReviewThresholds, decide_review
from learnosity_core.delivery.staging import StoragePath
from learnosity_core.delivery.submission import BatchSender

log = logging.getLogger(__name__)


class PlanStream:
    """Hands staged batches to a sender while the run needs no review (`offer`)."""

    def __init__(self, sender: Sender, thresholds: ReviewThresholds, requested: bool) -> None:
        self._sender = sender
        self._thresholds = thresholds
        self._requested = requested
        self.closed: str | None = None  # why batches are no longer sent while planning
        self.offered: list[str] = []

    def begin(self, sessions: int) -> None:
        """Close at once when the run will wait for a review whatever its rows hold: approval
        requested, or more `sessions` in the window (at most) than the threshold."""
        limit = self._thresholds.approval_above_sessions
        if self._requested:
            self._close("require_approval is on")
        elif sessions > limit:
            self._close(
                f"the window holds up to {sessions:,} sessions, above approval_above_sessions {limit:,}"
            )

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


class Sender(Protocol):
    """What the stream needs of a sender: hand batches over, stop, and say what went."""

    posted: int
    resumed: int
    sessions: int

    def send(self, names: Iterable[str]) -> None: ...

    def finish(self) -> None: ...

    def stop(self) -> None: ...


FINISH = "finish"  # to a sending process: send what you were handed, then end (None: drop it, end)


class SendingProcess:
    """A `BatchSender` (with its job follower) in a child process of the plan.

    The plan's transform holds the GIL for long stretches, so sender threads beside it would
    start requests late and waste the rate budget; a process of its own is scheduled by the OS.
    Forked (`os.fork`: an Airflow task on a Celery worker counts as a daemonic process, which
    `multiprocessing` refuses children), so the stage folder (any file system the plan opened)
    and settings come as they are; the child opens its own HTTP and database connections and
    ends when the plan says so, or dies.
    """

    def __init__(
        self,
        settings: DataApiSettings,
        ledger: Ledger,
        stage: StoragePath,
        *,
        verify: bool,
        ignore_response_revisions: bool | None,
        concurrency: int,
    ) -> None:
        options = _ChildOptions(settings, ledger, stage, verify, ignore_response_revisions, concurrency)
        plan_end, child_end = multiprocessing.Pipe()
        plan_pid = os.getpid()
        pid = os.fork()
        if pid == 0:  # the child: never returns into the plan's code
            code = 1
            try:
                plan_end.close()
                _send_in_child(options, child_end, plan_pid)
                code = 0
            except BaseException:
                log.exception("Sending while planning failed")
            finally:
                os._exit(code)
        child_end.close()
        self._conn = plan_end
        self.pid = pid
        self._exit: int | None = None
        self._asked = self._stopped = False
        self.posted = self.resumed = self.sessions = 0

    def send(self, names: Iterable[str]) -> None:
        if self._ended():
            raise RuntimeError(f"the sending process ended (exit status {self._exit})")
        self._conn.send(list(names))

    def ask_to_finish(self) -> None:
        """Tell the child to send what it was handed and end (once); `finish` waits for it."""
        self._ask(FINISH)

    def ask_to_stop(self) -> None:
        """Tell the child to drop what it has not started (once); `stop` waits for it."""
        self._ask(None)

    def finish(self) -> None:
        """Wait until the child sent everything it was handed (or died)."""
        self.ask_to_finish()
        self._end(timeout_s=None)

    def stop(self) -> None:
        self.ask_to_stop()
        # The child drops what it has not started and finishes what it has: seconds.
        self._end(timeout_s=STOP_TIMEOUT_S)

    def _ask(self, message: str | None) -> None:
        if not self._asked and not self._ended():
            self._asked = True
            with suppress(OSError):
                self._conn.send(message)

    def _end(self, timeout_s: float | None) -> None:
        """Read what the child sent (a child that died reads as the end of the pipe at once)."""
        if self._stopped:
            return
        self._stopped = True
        if self._conn.poll(timeout_s):
            with suppress(EOFError, OSError):
                counts = self._conn.recv()
                self.posted, self.resumed = counts["posted"], counts["resumed"]
                self.sessions = counts["sessions"]
        else:
            log.warning("The sending process did not say what it sent; the submit tasks resume it")
            with suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        if self._exit is None:
            with suppress(ChildProcessError):
                self._exit = os.waitpid(self.pid, 0)[1]
        self._conn.close()

    def _ended(self) -> bool:
        if self._exit is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere
                pid, status = self.pid, -1
            if pid:
                self._exit = status
        return self._exit is not None


STOP_TIMEOUT_S = 120.0


class SendingProcesses:
    """Several sending processes as one sender: batches dealt out in turn, counts summed."""

    def __init__(self, processes: Sequence[SendingProcess]) -> None:
        self._processes = list(processes)
        self._turn = 0
        self.posted = self.resumed = self.sessions = 0

    def send(self, names: Iterable[str]) -> None:
        shares: list[list[str]] = [[] for _ in self._processes]
        for name in names:
            shares[self._turn % len(shares)].append(name)
            self._turn += 1
        for process, share in zip(self._processes, shares, strict=True):
            if share:
                process.send(share)

    def finish(self) -> None:
        self._end(finishing=True)

    def stop(self) -> None:
        self._end(finishing=False)

    def _end(self, *, finishing: bool) -> None:
        """Tell every process at once (they share the rate budget), then wait for each."""
        for process in self._processes:
            if finishing:
                process.ask_to_finish()
            else:
                process.ask_to_stop()
        for process in self._processes:
            if finishing:
                process.finish()
            else:
                process.stop()
        self.posted = sum(p.posted for p in self._processes)
        self.resumed = sum(p.resumed for p in self._processes)
        self.sessions = sum(p.sessions for p in self._processes)


@dataclass(frozen=True)
class _ChildOptions:
    settings: DataApiSettings
    ledger: Ledger
    stage: StoragePath
    verify: bool
    ignore_response_revisions: bool | None
    concurrency: int


def _send_in_child(options: _ChildOptions, conn: Connection, plan_pid: int) -> None:
    options.ledger.engine.dispose(close=False)  # the plan's pooled connections stay the plan's
    with (
        DataApiClient(options.settings) as client,
        JobFollower(client, options.ledger, options.stage, verify=options.verify, linger_s=0.0) as follower,
    ):
        sender = BatchSender(
            client,
            options.ledger,
            options.stage,
            name="plan-send",
            concurrency=options.concurrency,
            ignore_response_revisions=options.ignore_response_revisions,
            follower=follower,
        )
        finishing = False
        try:
            finishing = _receive(conn, sender, plan_pid)
        except EOFError:  # the plan closed its end without a word: it is gone
            pass
        except Exception as exc:  # the submit tasks send what is left, and report a lasting fault
            log.warning("Sending while planning stopped (%s: %s)", type(exc).__name__, exc)
        finally:
            if finishing:
                what = f"Planning done: sending process {os.getpid()} sends what it has queued"
                sender.finish(
                    Progress(sender.queued, what, log, "batches", every_s=15.0),
                    wanted=lambda: os.getppid() == plan_pid,  # a dead plan's retry sends the rest
                )
            else:
                sender.stop()
    with suppress(OSError):
        conn.send({"posted": sender.posted, "resumed": sender.resumed, "sessions": sender.sessions})


def _receive(conn: Connection, sender: BatchSender, plan_pid: int) -> bool:
    """Hand the plan's batches to `sender` until it says to end; True when it said to finish."""
    while True:
        if not conn.poll(1.0):
            if os.getppid() != plan_pid:  # the plan died: its retry sends
                return False
            continue
        message = conn.recv()
        if message is None or message == FINISH:
            return message == FINISH
        sender.send(message)


@contextmanager
def plan_stream(
    settings: DataApiSettings,
    ledger: Ledger,
    stage: StoragePath,
    thresholds: ReviewThresholds,
    *,
    requested: bool,
    verify: bool,
    processes: int = 4,
    concurrency: int = 4,
    ignore_response_revisions: bool | None = None,
) -> Iterator[PlanStream]:
    """A stream for one plan, sending from `processes` child processes with `concurrency`
    requests in flight each (as many as the submit tasks: preparing, signing and reading back a
    batch of 50 sessions is CPU work, and one process held to one core by the GIL reached only
    64% of the limit); leaving it drops what was not started and says what went."""
    sender = SendingProcesses(
        [
            SendingProcess(
                settings,
                ledger,
                stage,
                verify=verify,
                ignore_response_revisions=ignore_response_revisions,
                concurrency=concurrency,
            )
            for _ in range(max(1, processes))
        ]
    )
    stream = PlanStream(sender, thresholds, requested)
    try:
        yield stream
    except BaseException:
        sender.stop()
        raise
    else:
        sender.finish()  # a stream closed for a review has stopped its sender already
    finally:
        log.info(
            "Sent while planning: %d batches (%d sessions), %d left to the submit tasks%s",
            sender.posted,
            sender.sessions,
            len(stream.offered) - sender.posted - sender.resumed,
            f"; stopped: {stream.closed}" if stream.closed else "",
        )
