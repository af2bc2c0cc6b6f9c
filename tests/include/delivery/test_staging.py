"""Staged files are what submit tasks send: round-trips and shard spreading."""

from __future__ import annotations

import json
from pathlib import Path

from learnosity_core.delivery.staging import (
    StagedBatch,
    assign_shards,
    read_batch,
    read_shard,
    read_template,
    safe_name,
    write_batch,
    write_session_json_batch,
    write_shards,
    write_template,
)


def test_session_json_batches_round_trip_without_re_encoding(tmp_path: Path) -> None:
    entries = [
        json.dumps({"user_id": "u1", "session_id": "s1", "responses": [{"value": "makka+pakka"}]}),
        json.dumps({"user_id": "ü2", "session_id": "s2", "responses": []}, ensure_ascii=False),
    ]
    name = write_session_json_batch(tmp_path, "run:1/act-1-00001", "act-1", ["s1", "s2"], entries)
    batch = read_batch(tmp_path, name)
    assert batch.data_format == "from_template" and batch.activity_id == "act-1"
    assert batch.session_ids == ["s1", "s2"]
    assert batch.entries == [json.loads(e) for e in entries]
    assert "/" not in name and ":" not in name


def test_failed_submission_batches_round_trip(tmp_path: Path) -> None:
    batch = StagedBatch(batch_id="b1", data_format="failed_submission", session_ids=["s1"], entries=["YWJj"])
    assert read_batch(tmp_path, write_batch(tmp_path, batch)) == batch


def test_templates_are_stored_per_activity(tmp_path: Path) -> None:
    write_template(tmp_path, "act/1", {"items": [{"questions": [{"id": "q", "type": "mcq"}]}]})
    assert read_template(tmp_path, "act/1")["items"][0]["questions"][0]["id"] == "q"


def test_shards_spread_batches_round_robin_and_never_exceed_the_cap() -> None:
    names = [f"b{i}" for i in range(10)]
    shards = assign_shards(names, 4)
    assert len(shards) == 4
    assert sorted(n for s in shards for n in s) == sorted(names)
    assert max(len(s) for s in shards) - min(len(s) for s in shards) <= 1
    assert assign_shards(names[:2], 4) == [["b0"], ["b1"]]
    assert assign_shards([], 4) == []


def test_shard_files_carry_labels_and_counts(tmp_path: Path) -> None:
    shards = write_shards(tmp_path, [["a", "b"], ["c"]], {"a": 50, "b": 10, "c": 7})
    assert [s.label for s in shards] == ["shard 1: 2 batches, 60 sessions", "shard 2: 1 batches, 7 sessions"]
    assert read_shard(tmp_path, 1) == ["a", "b"]


def test_safe_name_keeps_ids_readable() -> None:
    assert safe_name("activity-1.v2_B") == "activity-1.v2_B"
    assert safe_name("manual__2026-11-22T02:00:00+00:00").startswith("manual__2026-11-22T02_00_00_00_00-")


def test_safe_names_of_different_ids_never_collide() -> None:
    ids = ["act/1", "act:1", "act_1", "a" * 130, "a" * 131, "a" * 120 + "/"]
    names = [safe_name(i) for i in ids]
    assert len(set(names)) == len(ids)
    assert all(len(n) <= 120 and set(n) <= set("abcdefghijklmnopqrstuvwxyz0123456789_-.act") for n in names)
