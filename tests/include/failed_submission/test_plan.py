"""Replay planning: every bad blob quarantined with its reason, duplicates resolved, nothing lost."""

from __future__ import annotations

from pathlib import Path

from learnosity_core.delivery.ledger import Ledger, SessionOutcome, SessionStatus
from learnosity_core.delivery.staging import read_batch, read_shard
from learnosity_core.failed_submission.blob import encode_failed_session
from learnosity_core.failed_submission.landing import lease_key, settle_files
from learnosity_core.failed_submission.plan import plan_replay
from learnosity_devtools.sample_data import (
    BLOB_SHAPES,
    MALFORMED_BLOBS,
    reshape_blob_session,
    sample_blob_session,
)

DAG_ID = "learnosity_failed_submission_replay"

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


def _blob(user: str, revision: int = 1, saved: str = "2026-11-21T10:00:00", shape: str = "flat") -> str:
    doc = sample_blob_session(TEMPLATE, "act-1", user, revision, saved)
    return encode_failed_session(reshape_blob_session(doc, shape))


def _unidentified(user: str) -> str:
    """A blob whose session data names no session: only its content tells it apart."""
    doc = sample_blob_session(TEMPLATE, "act-1", user, 1, "2026-11-21T10:00:00")
    return encode_failed_session({"responses": doc["responses"], "learner": user})


def _wrapped(blob: str, width: int) -> str:
    return "\n".join(blob[i : i + width] for i in range(0, len(blob), width))


def _plan(  # type: ignore[no-untyped-def]
    tmp_path: Path,
    ledger: Ledger,
    run: str = "run-1",
    table: list | None = None,
    dry: bool = False,
    strict: bool = False,
):
    stage = tmp_path / "stage" / run
    stage.mkdir(parents=True)
    return plan_replay(
        tmp_path / "landing", table or [], ledger, stage, DAG_ID, run, dry_run=dry, strict=strict, settle_s=0
    ), stage


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
        "not_object": 1,
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


def test_every_shape_is_staged_once_by_its_session(tmp_path: Path, ledger: Ledger) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    for n, shape in enumerate(BLOB_SHAPES):
        (landing / f"{shape}.txt").write_text(_blob(f"u{n}", shape=shape))
    summary, _ = _plan(tmp_path, ledger)
    assert (summary.found, summary.staged, summary.invalid_by_reason, summary.duplicates) == (3, 3, {}, 0)
    rows = {r.user_id: r for r in ledger.sessions_of_run(DAG_ID, "run-1")}
    assert set(rows) == {"u0", "u1", "u2"} and {r.activity_id for r in rows.values()} == {"act-1"}
    assert {k: s.name for k, s in summary.sources.items()} == {
        sample_blob_session(TEMPLATE, "act-1", f"u{n}", 1, "")["session_id"]: f"{shape}.txt"
        for n, shape in enumerate(BLOB_SHAPES)
    }
    assert summary.warnings == [
        ("camel.txt", "invalid_response: responses['q-mcq'] has no apiVersion"),
        (
            "camel.txt",
            "invalid_response: responses['q-short'] has no apiVersion",
        ),
    ]
    assert summary.warnings_by_code == {"invalid_response": 2}


def test_one_session_in_two_shapes_is_still_one_session(tmp_path: Path, ledger: Ledger) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "a-camel-newer.txt").write_text(_blob("u1", revision=3, shape="camel"))
    (landing / "b-nested-older.txt").write_text(_blob("u1", revision=2, shape="nested"))
    summary, _ = _plan(tmp_path, ledger)
    assert summary.staged == 1 and summary.duplicates == 1
    assert [s.name for s in summary.sources.values()] == ["a-camel-newer.txt"]
    assert (landing / "duplicates" / "b-nested-older.txt.reason.txt").read_text() == (
        "superseded by a-camel-newer.txt\n"
    )


def test_a_blob_naming_no_session_is_sent_once_by_its_content(tmp_path: Path, ledger: Ledger) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    blob = _unidentified("u1")
    (landing / "copied.txt").write_text(_wrapped(blob, 76))
    (landing / "downloaded.txt").write_text(blob)  # the same blob, dropped twice
    (landing / "other.txt").write_text(_unidentified("u2"))
    summary, stage = _plan(tmp_path, ledger)

    assert (summary.found, summary.staged, summary.duplicates) == (3, 2, 1)
    assert sorted(s.name for s in summary.sources.values()) == ["copied.txt", "other.txt"]
    assert all(key.startswith("blob:") and len(key) == 64 for key in summary.sources)
    assert (landing / "duplicates" / "downloaded.txt.reason.txt").read_text() == "same blob as copied.txt\n"
    assert ("copied.txt", "missing_identity: found no non-blank session_id, user_id, activity_id") in (
        summary.warnings
    )
    (shard,) = summary.shards
    batch = read_batch(stage, read_shard(stage, shard.shard)[0])
    assert blob in batch.entries, "sent as it was dropped, whitespace removed"

    batch_rows = ledger.sessions_of_run(DAG_ID, "run-1")
    ledger.record_submission(batch.batch_id, "job-1")
    ledger.record_job(
        "job-1", "completed", [SessionOutcome(r.session_id, SessionStatus.COMPLETED) for r in batch_rows]
    )
    settle_files(landing, summary.sources, [r.session_id for r in batch_rows])
    ledger.release_lease(lease_key(landing), "run-1")  # what run-1's report does
    (landing / "again.txt").write_text(blob)  # dropped once more after delivery
    again, _ = _plan(tmp_path, ledger, run="run-2")
    assert (again.staged, again.already_delivered) == (0, 1)
    assert (landing / "processed" / "again.txt").exists()


def test_strict_quarantines_what_would_only_warn(tmp_path: Path, ledger: Ledger) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "flat.txt").write_text(_blob("u1"))
    (landing / "camel.txt").write_text(_blob("u2", shape="camel"))
    (landing / "anonymous.txt").write_text(_unidentified("u3"))
    summary, _ = _plan(tmp_path, ledger, strict=True)
    assert summary.strict and summary.staged == 1 and summary.warnings == []
    assert summary.invalid_by_reason == {"invalid_response": 1, "missing_identity": 1}
    assert (landing / "quarantine" / "anonymous.txt.reason.txt").read_text().startswith("missing_identity: ")
    assert (landing / "quarantine" / "camel.txt.reason.txt").read_text().startswith("invalid_response: ")
