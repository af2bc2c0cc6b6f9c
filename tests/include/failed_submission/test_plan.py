"""Replay planning: every bad blob quarantined with its reason, duplicates resolved, nothing lost."""

from __future__ import annotations

from pathlib import Path

from learnosity_core.delivery.ledger import Ledger, SessionOutcome, SessionStatus
from learnosity_core.delivery.staging import read_batch, read_shard
from learnosity_core.failed_submission.blob import encode_failed_session
from learnosity_core.failed_submission.landing import lease_key, settle_files
from learnosity_core.failed_submission.plan import plan_replay
from learnosity_devtools.sample_data import MALFORMED_BLOBS, sample_blob_session

TEMPLATE = {
    "items": [
        {
            "questions": [
                {"id": "q-mcq", "type": "mcq", "options": [{"value": "0"}, {"value": "1"}]},
                {"id": "q-short", "type": "shorttext"},
            ]
        }
    ]
}


def _blob(user: str, revision: int = 1, saved: str = "2026-11-21T10:00:00") -> str:
    return encode_failed_session(sample_blob_session(TEMPLATE, "act-1", user, revision, saved))


def _plan(tmp_path: Path, ledger: Ledger, run: str = "run-1", table: list | None = None, dry: bool = False):  # type: ignore[no-untyped-def]
    stage = tmp_path / "stage" / run
    stage.mkdir(parents=True)
    return plan_replay(tmp_path / "landing", table or [], ledger, stage, run, dry_run=dry, settle_s=0), stage


def test_malformed_files_are_quarantined_with_their_reasons_and_valid_ones_staged(
    tmp_path: Path, ledger: Ledger
) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    for name, content in MALFORMED_BLOBS.items():
        (landing / name).write_bytes(content)
    (landing / "huge.txt").write_bytes(b"QUFB" * (2 * 1024 * 1024))  # decodes to 6 MiB
    blob = _blob("u1")
    (landing / "good.txt").write_text(
        "\n  " + "\n".join(blob[i : i + 60] for i in range(0, len(blob), 60)) + "\n"
    )

    summary, stage = _plan(tmp_path, ledger)
    assert summary.found == len(MALFORMED_BLOBS) + 2
    assert summary.invalid_by_reason == {
        "not_base64": 2,  # plain text and binary junk
        "not_utf8": 1,
        "not_json": 1,
        "missing_identity": 1,
        "empty": 1,
        "too_large": 1,
    }
    quarantine = landing / "quarantine"
    for name in [*MALFORMED_BLOBS, "huge.txt"]:
        assert (quarantine / name).exists(), name
        assert (quarantine / f"{name}.reason.txt").read_text().strip()
    assert sorted(p.name for p in landing.iterdir() if p.is_file()) == ["good.txt"]  # nothing deleted
    (shard,) = summary.shards
    (batch_name,) = read_shard(stage, shard.shard)
    batch = read_batch(stage, batch_name)
    assert batch.data_format == "failed_submission" and batch.entries == [blob]  # whitespace removed


def test_the_newer_of_two_blobs_for_a_session_wins(tmp_path: Path, ledger: Ledger) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "a-old.txt").write_text(_blob("u1", revision=1))
    (landing / "b-new.txt").write_text(_blob("u1", revision=3))
    (landing / "c-same-revision-later.txt").write_text(_blob("u2", revision=2, saved="2026-11-21T11:00:00"))
    (landing / "d-same-revision-earlier.txt").write_text(_blob("u2", revision=2, saved="2026-11-21T09:00:00"))

    summary, _ = _plan(tmp_path, ledger)
    assert summary.duplicates == 2 and summary.staged == 2
    assert {s.name for s in summary.sources.values()} == {"b-new.txt", "c-same-revision-later.txt"}
    assert sorted(p.name for p in (landing / "duplicates").glob("*.txt") if ".reason" not in p.name) == [
        "a-old.txt",
        "d-same-revision-earlier.txt",
    ]


def test_completed_sessions_are_not_sent_again_and_only_their_files_move(
    tmp_path: Path, ledger: Ledger
) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "one.txt").write_text(_blob("u1"))
    (landing / "two.txt").write_text(_blob("u2"))
    summary, stage = _plan(tmp_path, ledger)
    batch = read_batch(stage, read_shard(stage, 1)[0])
    ledger.record_submission(batch.batch_id, "job-1")
    done, failed = batch.session_ids
    ledger.record_job(
        "job-1",
        "completed",
        [SessionOutcome(done, SessionStatus.COMPLETED), SessionOutcome(failed, SessionStatus.FAILED, "x")],
    )
    assert settle_files(landing, summary.sources, [done]) == 1
    moved = summary.sources[done].name
    assert (landing / "processed" / moved).exists() and not (landing / moved).exists()
    assert (landing / summary.sources[failed].name).exists(), "a failed session's file stays for the next run"

    (landing / moved).write_text((landing / "processed" / moved).read_text())  # the same blob dropped again
    ledger.release_lease(lease_key(landing), "run-1")  # what run-1's report does
    again, _ = _plan(tmp_path, ledger, run="run-2")
    assert again.already_delivered == 1 and again.staged == 1
    assert [s.name for s in again.sources.values()] == [summary.sources[failed].name]


def test_table_blobs_join_the_corpus(tmp_path: Path, ledger: Ledger) -> None:
    summary, _ = _plan(tmp_path, ledger, table=[("row-1", _blob("u7")), ("row-2", "%%%")])
    assert summary.found == 2 and summary.staged == 1 and summary.invalid_by_reason == {"not_base64": 1}
    assert summary.invalid[0][0] == "row-2"


def test_a_dry_run_moves_and_stages_nothing(tmp_path: Path, ledger: Ledger) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "good.txt").write_text(_blob("u1"))
    (landing / "bad.txt").write_text("%%%")
    summary, _ = _plan(tmp_path, ledger, dry=True)
    assert summary.staged == 1 and summary.shards == [] and summary.invalid_by_reason == {"not_base64": 1}
    assert sorted(p.name for p in landing.iterdir()) == ["bad.txt", "good.txt"]
