"""Replay planning against an adversarial landing folder: every entry accounted for, nothing
outside the root touched, large files never read, one run at a time per landing location."""

from __future__ import annotations

import os
import threading
import time
import tracemalloc
from pathlib import Path

from learnosity_core.delivery.ledger import Ledger
from learnosity_core.delivery.staging import read_batch, read_shard
from learnosity_core.failed_submission.blob import encode_failed_session
from learnosity_core.failed_submission.landing import LEASE_TTL, lease_key
from learnosity_core.failed_submission.plan import ReplaySummary, plan_replay
from learnosity_devtools.sample_data import sample_blob_session

DAG_ID = "learnosity_failed_submission_replay"
TEMPLATE = {"items": [{"questions": [{"id": "q-short", "type": "shorttext"}]}]}


def _blob(user: str) -> str:
    return encode_failed_session(sample_blob_session(TEMPLATE, "act-1", user, 1, "2026-11-21T10:00:00"))


def _plan(landing: Path, ledger: Ledger, stage: Path, run: str = "run-1", **kwargs: object) -> ReplaySummary:
    folder = stage / run
    folder.mkdir(parents=True, exist_ok=True)
    return plan_replay(landing, [], ledger, folder, DAG_ID, run, **kwargs)  # type: ignore[arg-type]


def _accounted(summary: ReplaySummary) -> int:
    return (
        len(summary.waiting)
        + len(summary.skipped)
        + sum(summary.invalid_by_reason.values())
        + summary.duplicates
        + summary.already_delivered
        + summary.staged
    )


def test_every_entry_of_a_hostile_folder_is_accounted_for_and_nothing_outside_is_touched(
    tmp_path: Path, ledger: Ledger, stage: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.txt"
    secret.write_text("TOP SECRET")
    valid_outside = outside / "valid.txt"
    valid_outside.write_text(_blob("outsider"))
    landing = tmp_path / "landing"
    landing.mkdir()
    old = time.time() - 3600
    for name, text in {"good.txt": _blob("u1"), "junk.txt": "%%%", "good.txt.part": _blob("u2")[:10]}.items():
        (landing / name).write_text(text)
        os.utime(landing / name, (old, old))
    (landing / "fresh.txt").write_text(_blob("u3")[:40])  # its writer is still going
    (landing / "to-secret.txt").symlink_to(secret)
    (landing / "to-valid.txt").symlink_to(valid_outside)
    (landing / "dangling").symlink_to(tmp_path / "nothing")
    (landing / "district-7").mkdir()
    os.mkfifo(landing / "pipe")

    summary = _plan(landing, ledger, stage, settle_s=60)

    assert summary.found == 9 == _accounted(summary)
    assert summary.staged == 1 and summary.invalid_by_reason == {"not_base64": 1}
    assert summary.waiting == {"fresh.txt": "still_changing", "good.txt.part": "temporary_name"}
    assert summary.skipped == {
        "dangling": "symlink",
        "district-7": "directory",
        "pipe": "special_file",
        "to-secret.txt": "symlink",
        "to-valid.txt": "symlink",
    }
    assert secret.read_text() == "TOP SECRET" and valid_outside.read_text() == _blob("outsider")
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt", "valid.txt"]
    assert sorted(p.name for p in (landing / "quarantine").iterdir()) == ["junk.txt", "junk.txt.reason.txt"]
    assert (landing / "to-secret.txt").is_symlink() and (landing / "fresh.txt").exists()


def test_a_huge_file_is_quarantined_by_its_size_without_being_read(
    tmp_path: Path, ledger: Ledger, stage: Path
) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    with (landing / "huge.txt").open("wb") as out:
        out.truncate(200 * 1024 * 1024)  # sparse: 200 MB by stat, no disk used
    tracemalloc.start()
    try:
        summary = _plan(landing, ledger, stage, settle_s=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert summary.invalid_by_reason == {"too_large": 1}
    assert peak < 20 * 1024 * 1024, f"planning allocated {peak} bytes: the file was read"
    reason = (landing / "quarantine" / "huge.txt.reason.txt").read_text()
    assert reason.startswith("too_large: the file has 209715200 bytes")
    assert (landing / "quarantine" / "huge.txt").stat().st_size == 200 * 1024 * 1024


def test_a_slowly_written_blob_waits_then_is_sent_whole(tmp_path: Path, ledger: Ledger, stage: Path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    blob = _blob("slow")
    path = landing / "slow.txt"
    path.write_text(blob[: len(blob) // 2])

    first = _plan(landing, ledger, stage, "run-1", settle_s=0.5)
    assert first.waiting == {"slow.txt": "still_changing"} and first.staged == 0
    assert path.read_text() == blob[: len(blob) // 2], "a half-written file is left alone"
    ledger.release_lease(lease_key(landing), "run-1")

    with path.open("a") as out:
        out.write(blob[len(blob) // 2 :])
    time.sleep(0.6)
    second = _plan(landing, ledger, stage, "run-2", settle_s=0.5)
    assert second.staged == 1 and second.waiting == {} and second.invalid_by_reason == {}
    (batch_name,) = read_shard(stage / "run-2", 1)
    assert read_batch(stage / "run-2", batch_name).entries == [blob]


def test_a_run_takes_nothing_while_another_holds_the_landing_location(
    tmp_path: Path, ledger: Ledger, stage: Path
) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "a.txt").write_text(_blob("u1"))
    (landing / "junk.txt").write_text("%%%")
    assert ledger.acquire_lease(lease_key(landing), "other-dag-run", LEASE_TTL) is None

    busy = _plan(landing, ledger, stage, "run-1", settle_s=0)
    assert busy.busy_with == "other-dag-run" and busy.found == 0 and busy.shards == []
    assert sorted(p.name for p in landing.iterdir()) == ["a.txt", "junk.txt"], "nothing moved"

    dry = _plan(landing, ledger, stage, "run-dry", settle_s=0, dry_run=True)  # a dry run only reads
    assert dry.busy_with is None and dry.staged == 1

    ledger.release_lease(lease_key(landing), "other-dag-run")
    assert _plan(landing, ledger, stage, "run-2", settle_s=0).staged == 1


def test_two_runs_planning_at_once_stage_each_blob_once(tmp_path: Path, ledger: Ledger, stage: Path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    for n in range(30):
        (landing / f"s{n:02d}.txt").write_text(_blob(f"u{n}"))
    results: dict[str, ReplaySummary] = {}
    start = threading.Barrier(2)

    def run(run_id: str) -> None:
        start.wait()
        results[run_id] = _plan(
            landing, Ledger.from_url(f"sqlite:///{tmp_path / 'ledger.db'}"), stage, run_id, settle_s=0
        )

    threads = [threading.Thread(target=run, args=(r,)) for r in ("run-a", "run-b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    staged = sorted(s.staged for s in results.values())
    assert staged == [0, 30]
    (idle,) = [s for s in results.values() if s.staged == 0]
    assert idle.busy_with in results and idle.found == 0
