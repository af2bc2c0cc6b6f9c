"""Sending while planning, against the emulator: batches go as they are staged while the run needs
no review, the stream closes for good once it would, a plan that ends has sent what it staged, and
a failed send never fails the plan."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from learnosity_core.dataapi import DataApiClient
from learnosity_core.delivery.batching import Batcher
from learnosity_core.delivery.ledger import Ledger, SessionEntry, SessionStatus
from learnosity_core.delivery.review import ActivityFigures, PlanFigures, ReviewThresholds
from learnosity_core.delivery.staging import write_template
from learnosity_core.delivery.streaming import PlanStream, SendingProcess, plan_stream
from learnosity_devtools.emulator import EmulatorServer, Faults
from learnosity_devtools.emulator.seed import demo_templates, question_id

DAG_ID = "learnosity_template_submission"
RUN = "manual__2026-12-03T02:00:00+00:00"
ACTIVITY = "demo-biology-cells-u3"
THRESHOLDS = ReviewThresholds(approval_above_sessions=100, approval_above_quarantine_share=0.05)


def _figures(read: int, quarantined: int, sessions: int) -> PlanFigures:
    return PlanFigures(
        activities={ACTIVITY: ActivityFigures(read=read, quarantined=quarantined, sessions=sessions)}
    )


def _staged(stage: Path, ledger: Ledger, batches: int) -> Batcher:
    write_template(stage, ACTIVITY, demo_templates()[ACTIVITY])
    batcher = Batcher(stage, ledger, DAG_ID, RUN, "from_template", batch_size=2)
    for n in range(2 * batches):
        doc: dict[str, Any] = {
            "user_id": f"student-{n:05d}",
            "activity_id": ACTIVITY,
            "session_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"stream/{n}")),
            "responses": [
                {"question_id": question_id("bio-cells-process"), "type": "string", "value": "osmosis"}
            ],
        }
        session = SessionEntry(doc["session_id"], f"hash-{n}", ACTIVITY, doc["user_id"])
        batcher.add(ACTIVITY, session, json.dumps(doc))
    return batcher


def _posted(ledger: Ledger, stage: Path, names: list[str]) -> list[bool]:
    from learnosity_core.delivery.staging import read_batch

    return [ledger.job_for_batch(read_batch(stage, name).batch_id) is not None for name in names]


def test_batches_go_while_nothing_calls_for_a_review_and_stop_once_something_does(
    client: DataApiClient, ledger: Ledger, stage: Path
) -> None:
    batcher = _staged(stage, ledger, batches=4)
    names = batcher.take_new()
    with plan_stream(client.settings, ledger, stage, THRESHOLDS, requested=False, verify=True) as stream:
        stream.begin(sessions=4)
        stream.offer(names[:2], _figures(read=100, quarantined=5, sessions=4))  # 5.0%: within
        deadline = time.monotonic() + 30
        while not all(_posted(ledger, stage, names[:2])) and time.monotonic() < deadline:
            time.sleep(0.05)  # sent while the plan goes on
        stream.offer(names[2:], _figures(read=100, quarantined=6, sessions=8))  # 6%: above
    assert _posted(ledger, stage, names) == [True, True, False, False]
    assert stream.closed is not None and "approval_above_quarantine_share" in stream.closed
    assert stream.offered == names[:2] and stream.sessions_sent == 4
    statuses = {row.status for row in ledger.sessions_of_run(DAG_ID, RUN)}
    assert SessionStatus.STAGED in statuses  # the held back half waits for the review and the submit


@pytest.mark.parametrize(
    ("requested", "sessions", "closed"),
    [
        (True, 8, "require_approval is on"),
        (False, 101, "up to 101 sessions, above approval_above_sessions 100"),
        (False, 100, None),  # no more sessions than the threshold
    ],
)
def test_a_run_that_will_wait_for_a_review_sends_nothing_while_planning(
    client: DataApiClient,
    ledger: Ledger,
    stage: Path,
    requested: bool,
    sessions: int,
    closed: str | None,
) -> None:
    batcher = _staged(stage, ledger, batches=2)
    names = batcher.take_new()
    with plan_stream(client.settings, ledger, stage, THRESHOLDS, requested=requested, verify=False) as stream:
        stream.begin(sessions)
        stream.offer(names, _figures(read=4, quarantined=0, sessions=4))
    if closed is None:
        assert stream.closed is None and _posted(ledger, stage, names) == [True, True]
    else:
        assert stream.closed is not None and closed in stream.closed
        assert _posted(ledger, stage, names) == [False, False] and stream.offered == []


def test_a_plan_that_ends_has_sent_every_batch_it_handed_over(
    client: DataApiClient, ledger: Ledger, stage: Path, emulator: EmulatorServer
) -> None:
    """Planning outran the sending (slow SETs, one request at a time): the plan still ends with
    every batch sent, none left to the submit tasks."""
    emulator.set_faults(Faults(set_latency_s=0.2))
    names = _staged(stage, ledger, batches=6).take_new()
    with plan_stream(
        client.settings, ledger, stage, THRESHOLDS, requested=False, verify=False, processes=2, concurrency=1
    ) as stream:
        stream.offer(names, _figures(read=12, quarantined=0, sessions=12))
        assert not all(_posted(ledger, stage, names)), "planning ended before the sending"
    assert _posted(ledger, stage, names) == [True] * 6
    assert stream.sessions_sent == 12 and stream.closed is None


def test_a_plan_that_fails_leaves_what_was_not_started_to_the_submit_tasks(
    client: DataApiClient, ledger: Ledger, stage: Path, emulator: EmulatorServer
) -> None:
    emulator.set_faults(Faults(set_latency_s=0.5))
    names = _staged(stage, ledger, batches=4).take_new()
    with (
        pytest.raises(RuntimeError, match="warehouse gone"),
        plan_stream(
            client.settings,
            ledger,
            stage,
            THRESHOLDS,
            requested=False,
            verify=False,
            processes=1,
            concurrency=1,
        ) as stream,
    ):
        stream.offer(names, _figures(read=8, quarantined=0, sessions=8))
        raise RuntimeError("warehouse gone")
    posted = _posted(ledger, stage, names)
    assert posted[-1] is False and stream.sessions_sent == 2 * sum(posted) < 8


def test_a_batch_that_cannot_be_sent_while_planning_is_left_to_the_submit_tasks(
    client: DataApiClient, ledger: Ledger, stage: Path
) -> None:
    batcher = _staged(stage, ledger, batches=1)
    names = batcher.take_new()
    (stage / "batches" / names[0]).unlink()  # e.g. the stage folder was cleaned under it
    with plan_stream(client.settings, ledger, stage, THRESHOLDS, requested=False, verify=False) as stream:
        stream.offer(names, _figures(read=2, quarantined=0, sessions=2))
    assert stream.sessions_sent == 0 and stream.closed is None  # the plan goes on; nothing is lost
    assert {row.status for row in ledger.sessions_of_run(DAG_ID, RUN)} == {SessionStatus.STAGED}


def test_a_sending_process_that_dies_closes_the_stream_and_the_plan_goes_on(
    client: DataApiClient, ledger: Ledger, stage: Path
) -> None:
    batcher = _staged(stage, ledger, batches=2)
    names = batcher.take_new()
    sender = SendingProcess(
        client.settings, ledger, stage, verify=False, ignore_response_revisions=None, concurrency=1
    )
    stream = PlanStream(sender, THRESHOLDS, requested=False)
    os.kill(sender.pid, signal.SIGKILL)  # e.g. the OOM killer
    time.sleep(0.5)
    stream.offer(names, _figures(read=4, quarantined=0, sessions=4))
    assert stream.closed is not None and "the sending process ended" in stream.closed
    sender.stop()
    assert _posted(ledger, stage, names) == [False, False] and stream.sessions_sent == 0
