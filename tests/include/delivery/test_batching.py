"""The batcher: full batches per group, written as they fill, staged in the ledger, spread over shards."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from learnosity_core.delivery.batching import Batcher
from learnosity_core.delivery.ledger import Ledger, SessionEntry, SessionStatus
from learnosity_core.delivery.staging import StagedBatch, read_batch, read_shard

DAG_ID = "learnosity_template_submission"

RUN = "manual__2026-11-22T02:00:00+00:00"


def _session(group: str, n: int) -> SessionEntry:
    return SessionEntry(f"{group}-s{n:03d}", f"hash-{group}-{n}", group, f"user-{n:05d}")


def _entry(session: SessionEntry) -> str:
    return json.dumps({"session_id": session.session_id, "user_id": session.user_id, "responses": []})


def _batch_files(stage: Path) -> dict[str, StagedBatch]:
    return {p.name: read_batch(stage, p.name) for p in sorted((stage / "batches").glob("*.json"))}


def test_batches_stay_within_size_never_mix_groups_and_hold_every_session_once(
    stage: Path, ledger: Ledger
) -> None:
    groups = {"act-a": 7, "act-b": 5, "act-c": 3}
    added: dict[str, SessionEntry] = {}
    batcher = Batcher(stage, ledger, DAG_ID, RUN, "from_template", batch_size=3)
    for n in range(max(groups.values())):  # interleaved, as rows of several activities arrive
        for group, count in groups.items():
            if n < count:
                session = _session(group, n)
                batcher.add(group, session, _entry(session))
                added[session.session_id] = session
    batcher.finish(max_shards=16)

    batches = _batch_files(stage)
    assert len(batches) == sum(math.ceil(count / 3) for count in groups.values())
    seen: list[str] = []
    for batch in batches.values():
        assert 1 <= len(batch.session_ids) <= 3
        assert len(batch.entries) == len(batch.session_ids)
        assert {added[sid].activity_id for sid in batch.session_ids} == {batch.activity_id}
        assert [e["session_id"] for e in batch.entries] == batch.session_ids
        seen += batch.session_ids
    assert sorted(seen) == sorted(added)  # each exactly once

    rows = {row.session_id: row for row in ledger.sessions_of_run(DAG_ID, RUN)}
    assert set(rows) == set(added)
    batch_of = {sid: b.batch_id for b in batches.values() for sid in b.session_ids}
    for sid, row in rows.items():
        assert row.status == SessionStatus.STAGED
        assert row.batch_id == batch_of[sid]
        assert row.data_format == "from_template"
        assert (row.activity_id, row.user_id, row.content_hash) == (
            added[sid].activity_id,
            added[sid].user_id,
            added[sid].content_hash,
        )
        assert row.job_reference is None


def test_a_full_batch_is_written_and_staged_before_finish(stage: Path, ledger: Ledger) -> None:
    batcher = Batcher(stage, ledger, DAG_ID, RUN, "from_template", batch_size=2)
    first, second, third = (_session("act-a", n) for n in range(3))
    batcher.add("act-a", first, _entry(first))
    assert not (stage / "batches").exists() and ledger.sessions_of_run(DAG_ID, RUN) == []
    batcher.add("act-a", second, _entry(second))
    (name,) = _batch_files(stage)
    assert read_batch(stage, name).session_ids == [first.session_id, second.session_id]
    assert {r.session_id for r in ledger.sessions_of_run(DAG_ID, RUN)} == {
        first.session_id,
        second.session_id,
    }

    batcher.add("act-a", third, _entry(third))
    assert len(_batch_files(stage)) == 1  # the partial batch waits for finish
    batcher.finish(max_shards=4)
    assert len(_batch_files(stage)) == 2
    assert len(ledger.sessions_of_run(DAG_ID, RUN)) == 3


def test_batch_names_are_file_safe_and_numbered_per_group(stage: Path, ledger: Ledger) -> None:
    batcher = Batcher(stage, ledger, DAG_ID, RUN, "from_template", batch_size=1)
    for n in range(2):
        session = _session("act/1", n)
        batcher.add("act/1", session, _entry(session))
    batcher.finish(max_shards=1)
    names = sorted(_batch_files(stage))
    assert len(names) == 2
    assert all(
        re.fullmatch(
            r"learnosity_template_submission-manual__2026-11-22T02_00_00_00_00-[0-9a-f]{8}-act_1-[0-9a-f]{8}-0000[12]\.json",
            n,
        )
        for n in names
    )
    assert [n[-10:] for n in names] == ["00001.json", "00002.json"]
    assert {b.activity_id for b in _batch_files(stage).values()} == {"act/1"}  # the real id is kept


def test_template_entries_are_embedded_byte_for_byte(stage: Path, ledger: Ledger) -> None:
    entries = [
        '{"session_id":"s1","responses":[{"value":"makka+pakka","characterCount":11}]}',
        '{"session_id": "s2",  "user_id": "Zürich – ü", "responses": [{"value": 1.50}]}',
        '{"z":1,"a":{"nested":[null,true,"\\u00e9"]},"session_id":"s3"}',
    ]
    batcher = Batcher(stage, ledger, DAG_ID, RUN, "from_template", batch_size=50)
    for n, entry in enumerate(entries, start=1):
        batcher.add("act-1", SessionEntry(f"s{n}", f"h{n}", "act-1", f"u{n}"), entry)
    batcher.finish(max_shards=1)

    (path,) = (stage / "batches").glob("*.json")
    text = path.read_text(encoding="utf-8")
    assert text.endswith(',"entries":[' + ",".join(entries) + "]}")  # not re-encoded: spacing, 1.50, \u00e9
    document = json.loads(text)
    assert document["entries"] == [json.loads(e) for e in entries]  # embedded as objects, not strings
    assert document["activity_id"] == "act-1" and document["session_ids"] == ["s1", "s2", "s3"]
    assert read_batch(stage, path.name).entries[1]["user_id"] == "Zürich – ü"


def test_failed_submission_blobs_are_written_as_strings(stage: Path, ledger: Ledger) -> None:
    blobs = ["eyJzZXNzaW9uX2lkIjoiMSJ9", "eyJhIjoiYiJ9", "e30="]
    batcher = Batcher(stage, ledger, DAG_ID, RUN, "failed_submission", batch_size=2)
    for n, blob in enumerate(blobs):
        batcher.add("replay", SessionEntry(f"s{n}", f"h{n}", "act-1", f"u{n}"), blob)
    batcher.finish(max_shards=1)

    batches = list(_batch_files(stage).values())
    assert [b.entries for b in batches] == [blobs[:2], blobs[2:]]
    assert all(b.data_format == "failed_submission" and b.activity_id is None for b in batches)
    raw = json.loads((stage / "batches" / sorted(_batch_files(stage))[0]).read_text(encoding="utf-8"))
    assert raw["entries"] == blobs[:2]
    rows = ledger.sessions_of_run(DAG_ID, RUN)
    assert {r.data_format for r in rows} == {"failed_submission"}
    assert {r.status for r in rows} == {SessionStatus.STAGED}


@pytest.mark.parametrize(("batches", "max_shards", "expected_shards"), [(7, 3, 3), (2, 5, 2), (5, 1, 1)])
def test_finish_spreads_batches_over_at_most_max_shards(
    stage: Path, ledger: Ledger, batches: int, max_shards: int, expected_shards: int
) -> None:
    batcher = Batcher(stage, ledger, DAG_ID, RUN, "from_template", batch_size=2)
    total = 2 * batches - 1  # the last batch is a partial one
    for n in range(total):
        session = _session("act-a", n)
        batcher.add("act-a", session, _entry(session))
    shards = batcher.finish(max_shards)

    assert len(shards) == expected_shards <= max_shards
    assert [s.shard for s in shards] == list(range(1, expected_shards + 1))
    assert sum(s.batches for s in shards) == batches
    assert sum(s.sessions for s in shards) == total
    listed = [name for s in shards for name in read_shard(stage, s.shard)]
    assert sorted(listed) == sorted(_batch_files(stage))  # every batch in exactly one shard
    for shard in shards:
        names = read_shard(stage, shard.shard)
        assert shard.batches == len(names)
        assert shard.sessions == sum(len(read_batch(stage, n).session_ids) for n in names)
        assert shard.label.startswith(f"shard {shard.shard}: batches ")
        assert shard.label.endswith(f", {shard.sessions} sessions")
        assert Path(shard.path).exists() and shard.stage == str(stage)
    assert max(s.batches for s in shards) - min(s.batches for s in shards) <= 1


def test_finish_with_nothing_added_stages_nothing(stage: Path, ledger: Ledger) -> None:
    assert Batcher(stage, ledger, DAG_ID, RUN, "from_template").finish(max_shards=4) == []
    assert ledger.sessions_of_run(DAG_ID, RUN) == []
    assert not (stage / "batches").exists()


@pytest.mark.parametrize("batch_size", [0, -1, 51, 1000])
def test_an_invalid_batch_size_is_refused(stage: Path, ledger: Ledger, batch_size: int) -> None:
    with pytest.raises(ValueError, match=f"batch_size must be 1 to 50, got {batch_size}"):
        Batcher(stage, ledger, DAG_ID, RUN, "from_template", batch_size=batch_size)


@pytest.mark.parametrize("batch_size", [1, 50])
def test_the_bounds_of_batch_size_are_accepted(stage: Path, ledger: Ledger, batch_size: int) -> None:
    batcher = Batcher(stage, ledger, DAG_ID, RUN, "from_template", batch_size=batch_size)
    for n in range(51):
        session = _session("act-a", n)
        batcher.add("act-a", session, _entry(session))
    shards = batcher.finish(max_shards=1024)
    assert sum(s.batches for s in shards) == math.ceil(51 / batch_size)
    assert max(len(b.session_ids) for b in _batch_files(stage).values()) == batch_size


def test_groups_with_the_same_safe_name_keep_separate_batches(stage: Path, ledger: Ledger) -> None:
    batcher = Batcher(stage, ledger, DAG_ID, RUN, "from_template", batch_size=50)
    for group in ("act/1", "act:1"):
        session = _session(group, 0)
        batcher.add(group, session, _entry(session))
    shards = batcher.finish(max_shards=4)
    staged = [sid for b in _batch_files(stage).values() for sid in b.session_ids]
    assert sorted(staged) == ["act/1-s000", "act:1-s000"]
    assert sum(s.sessions for s in shards) == 2


def test_new_batches_are_handed_over_once_in_staging_order(stage: Path, ledger: Ledger) -> None:
    batcher = Batcher(stage, ledger, DAG_ID, RUN, "from_template", batch_size=2)
    for n in range(5):
        for group in ("act-b", "act-a"):
            session = _session(group, n)
            batcher.add(group, session, _entry(session))
    first = batcher.take_new()
    assert [read_batch(stage, n).activity_id for n in first] == ["act-b", "act-a", "act-b", "act-a"]
    assert batcher.take_new() == []
    batcher.flush()  # the two partly filled batches
    last = batcher.take_new()
    assert [len(read_batch(stage, n).session_ids) for n in last] == [1, 1]
    assert sorted(first + last) == sorted(_batch_files(stage))


def test_batches_sent_while_planning_come_last_in_each_shard(stage: Path, ledger: Ledger) -> None:
    batcher = Batcher(stage, ledger, DAG_ID, RUN, "from_template", batch_size=1)
    for n in range(10):
        session = _session("act-a", n)
        batcher.add("act-a", session, _entry(session))
    sent = batcher.take_new()[:6]
    shards = batcher.finish(max_shards=2, sent=sent)

    lists = [read_shard(stage, s.shard) for s in shards]
    assert [len(names) for names in lists] == [5, 5]
    for names in lists:
        unsent = [n for n in names if n not in sent]
        assert len(unsent) == 2 and names[:2] == unsent  # what is still to send goes first
    assert sorted(n for names in lists for n in names) == sorted(_batch_files(stage))


def test_when_everything_was_sent_while_planning_the_shards_only_resume(stage: Path, ledger: Ledger) -> None:
    """Dealt out in turn: the last batches sent, whose jobs are still open, go to every shard."""
    batcher = Batcher(stage, ledger, DAG_ID, RUN, "from_template", batch_size=1)
    for n in range(5):
        session = _session("act-a", n)
        batcher.add("act-a", session, _entry(session))
    sent = batcher.take_new()
    shards = batcher.finish(max_shards=2, sent=sent)
    assert [read_shard(stage, s.shard) for s in shards] == [sent[0::2], sent[1::2]]
    assert [s.batches for s in shards] == [3, 2]
