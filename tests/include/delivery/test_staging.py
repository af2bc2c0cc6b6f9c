"""Staged files are what submit tasks send: round-trips, shard spreading, and learner data at rest
(owner-only, removed, expired)."""

from __future__ import annotations

import json
import os
import stat
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from learnosity_core.delivery.staging import (
    StagedBatch,
    assign_shards,
    expire_stages,
    local_path,
    make_private_dir,
    read_batch,
    read_shard,
    read_template,
    remove_stage,
    safe_name,
    write_batch,
    write_plan_summary,
    write_private_text,
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


def test_shards_are_ranges_of_nearly_equal_length_and_never_exceed_the_cap() -> None:
    names = [f"b{i}" for i in range(10)]
    shards = assign_shards(names, 4)
    assert shards == [["b0", "b1", "b2"], ["b3", "b4", "b5"], ["b6", "b7"], ["b8", "b9"]]
    assert assign_shards(names[:2], 4) == [["b0"], ["b1"]]
    assert assign_shards([], 4) == []


def test_shard_files_carry_labels_naming_their_batches_and_activities(tmp_path: Path) -> None:
    groups = {"a": "algebra", "b": "algebra", "c": "biology", "d": "chemistry", "e": "physics"}
    counts = {"a": 50, "b": 10, "c": 7, "d": 50, "e": 1}
    shards = write_shards(tmp_path, [["a", "b"], ["c", "d", "e"]], counts, groups)
    assert [s.label for s in shards] == [
        "shard 1: batches 1-2 of 5 (algebra), 60 sessions",
        "shard 2: batches 3-5 of 5 (biology … physics (3 activities)), 58 sessions",
    ]
    plain = write_shards(tmp_path, [["a", "b"], ["c"]], counts)
    assert [s.label for s in plain] == [
        "shard 1: batches 1-2 of 3, 60 sessions",
        "shard 2: batches 3-3 of 3, 7 sessions",
    ]
    assert read_shard(tmp_path, 1) == ["a", "b"]


def test_safe_name_keeps_ids_readable() -> None:
    assert safe_name("activity-1.v2_B") == "activity-1.v2_B"
    assert safe_name("manual__2026-11-22T02:00:00+00:00").startswith("manual__2026-11-22T02_00_00_00_00-")


def test_safe_names_of_different_ids_never_collide() -> None:
    ids = ["act/1", "act:1", "act_1", "a" * 130, "a" * 131, "a" * 120 + "/"]
    names = [safe_name(i) for i in ids]
    assert len(set(names)) == len(ids)
    assert all(len(n) <= 120 and set(n) <= set("abcdefghijklmnopqrstuvwxyz0123456789_-.act") for n in names)


def test_staged_files_and_folders_are_owner_only(tmp_path: Path) -> None:
    stage = tmp_path / "stage"
    stage.mkdir()
    batch = StagedBatch(batch_id="b1", data_format="failed_submission", session_ids=["s1"], entries=["YWJj"])
    write_batch(stage, batch)
    write_session_json_batch(stage, "b2", "act-1", ["s2"], ['{"user_id": "u"}'])
    write_template(stage, "act-1", {"items": []})
    write_shards(stage, [["b1.json"]], {"b1.json": 1})
    write_plan_summary(stage, batch)
    (stage / "batches" / "b1.json").chmod(0o644)
    write_batch(stage, batch)  # rewriting an existing file closes it again

    files = [p for p in stage.rglob("*") if p.is_file()]
    folders = [p for p in stage.rglob("*") if p.is_dir()]
    assert len(files) == 5 and {f.name for f in folders} == {"batches", "templates", "shards"}
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {oct(0o600)}
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in folders} == {oct(0o700)}


def test_private_writes_work_on_an_object_store_too() -> None:
    from upath import UPath

    folder = UPath(f"memory://stage-{os.getpid()}-{time.monotonic_ns()}")
    make_private_dir(folder / "batches")
    write_private_text(folder / "batches" / "b.json", "{}")
    assert local_path(folder) is None
    assert (folder / "batches" / "b.json").read_text() == "{}"
    remove_stage(folder)
    assert not (folder / "batches" / "b.json").exists()


def test_local_paths_are_recognised_behind_storage_urls(tmp_path: Path) -> None:
    from airflow.sdk import ObjectStoragePath

    assert local_path(tmp_path) == tmp_path
    assert local_path(ObjectStoragePath(tmp_path.as_uri())) == tmp_path
    assert local_path(ObjectStoragePath("s3://conn@bucket/stage")) is None


def test_a_stage_is_removed_and_old_stages_expire(tmp_path: Path) -> None:
    dag_stage = tmp_path / "stage" / "dag"
    now = datetime.now(UTC)
    for run, age in (("old-failed-run", timedelta(days=8)), ("recent-failed-run", timedelta(days=6))):
        write_batch(
            dag_stage / run,
            StagedBatch(batch_id="b", data_format="failed_submission", session_ids=["s"], entries=["e"]),
        )
        when = (now - age).timestamp()
        for path in [dag_stage / run, *(dag_stage / run).rglob("*")]:
            os.utime(path, (when, when))
    (dag_stage / "not-a-run.txt").write_text("left alone")

    assert expire_stages(dag_stage, timedelta(days=7), now) == ["old-failed-run"]
    assert sorted(p.name for p in dag_stage.iterdir()) == ["not-a-run.txt", "recent-failed-run"]
    remove_stage(dag_stage / "recent-failed-run")
    remove_stage(dag_stage / "recent-failed-run")  # already gone: nothing to do
    assert sorted(p.name for p in dag_stage.iterdir()) == ["not-a-run.txt"]
    assert expire_stages(tmp_path / "nowhere", timedelta(days=7), now) == []


def test_a_link_among_run_folders_is_never_followed_when_expiring(tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep.txt").write_text("keep")
    old = (datetime.now(UTC) - timedelta(days=30)).timestamp()
    os.utime(precious / "keep.txt", (old, old))
    os.utime(precious, (old, old))
    dag_stage = tmp_path / "stage" / "dag"
    dag_stage.mkdir(parents=True)
    (dag_stage / "run-link").symlink_to(precious, target_is_directory=True)
    assert expire_stages(dag_stage, timedelta(days=7), datetime.now(UTC)) == []
    assert (precious / "keep.txt").read_text() == "keep"
