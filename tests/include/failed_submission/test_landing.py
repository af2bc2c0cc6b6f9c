"""The landing folder: which entries a run takes, what waits, what is skipped, and how files move
(never deleted, never overwritten, never outside the landing root)."""

from __future__ import annotations

import os
import stat
import time
import uuid
from pathlib import Path

import pytest
from upath import UPath

from learnosity_core.failed_submission.landing import (
    DIRECTORY,
    HIDDEN,
    PROCESSED_FOLDER,
    QUARANTINE_FOLDER,
    SPECIAL_FILE,
    STILL_CHANGING,
    SYMLINK,
    TEMPORARY_NAME,
    BlobSource,
    LandingError,
    landing_location,
    lease_key,
    move,
    parse_allowed_sources,
    parse_settle_s,
    read_file,
    settle_files,
    survey,
)

NOW = time.time()
OLD = NOW - 3600


def _landing(tmp_path: Path, *names: str) -> Path:
    landing = tmp_path / "landing"
    landing.mkdir(exist_ok=True)
    for name in names:
        _drop(landing / name, f"blob of {name}")
    return landing


def _drop(path: Path, text: str, mtime: float = OLD) -> Path:
    path.write_text(text, encoding="ascii")
    os.utime(path, (mtime, mtime))
    return path


def _taken(landing: Path, settle_s: float = 60) -> list[str]:
    return [f.name for f in survey(landing, settle_s=settle_s, now=NOW).files]


def _secret(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir()
    return _drop(outside / "secret.txt", "TOP SECRET")


# -- listing -------------------------------------------------------------------------------------


def test_a_missing_landing_folder_has_no_entries(tmp_path: Path) -> None:
    assert survey(tmp_path / "nowhere", settle_s=60, now=NOW).model_dump() == {
        "files": [],
        "waiting": {},
        "skipped": {},
    }


def test_settled_regular_files_directly_in_the_folder_are_taken_in_name_order(tmp_path: Path) -> None:
    landing = _landing(tmp_path, "b.txt", "a.bin", "c", "a.txt.reason.txt")
    for folder in (QUARANTINE_FOLDER, PROCESSED_FOLDER, "duplicates"):
        (landing / folder).mkdir()
        _drop(landing / folder / "old.txt", "moved earlier")

    listing = survey(landing, settle_s=60, now=NOW)
    assert [f.name for f in listing.files] == ["a.bin", "a.txt.reason.txt", "b.txt", "c"]
    assert listing.waiting == {} and listing.skipped == {}
    assert listing.files[0].size == len("blob of a.bin")


def test_a_file_modified_within_the_settle_time_waits(tmp_path: Path) -> None:
    landing = _landing(tmp_path, "old.txt")
    _drop(landing / "fresh.txt", "half a blo", mtime=NOW - 5)
    _drop(landing / "from-the-future.txt", "clock skew", mtime=NOW + 600)

    listing = survey(landing, settle_s=60, now=NOW)
    assert [f.name for f in listing.files] == ["old.txt"]
    assert listing.waiting == {"fresh.txt": STILL_CHANGING, "from-the-future.txt": STILL_CHANGING}
    assert _taken(landing, settle_s=5) == ["fresh.txt", "old.txt"]


def test_temporary_names_always_wait_and_hidden_files_are_skipped(tmp_path: Path) -> None:
    landing = _landing(tmp_path, "a.txt.part", "b.TMP.tmp", ".DS_Store", ".upload.XyZ12")
    listing = survey(landing, settle_s=0, now=NOW)
    assert listing.files == []
    assert listing.waiting == {"a.txt.part": TEMPORARY_NAME, "b.TMP.tmp": TEMPORARY_NAME}
    assert listing.skipped == {".DS_Store": HIDDEN, ".upload.XyZ12": HIDDEN}


def test_links_folders_and_fifos_are_skipped_with_why(tmp_path: Path) -> None:
    secret = _secret(tmp_path)
    landing = _landing(tmp_path, "real.txt")
    (landing / "to-secret.txt").symlink_to(secret)
    (landing / "dangling.txt").symlink_to(tmp_path / "nothing-here")
    (landing / "to-real.txt").symlink_to(landing / "real.txt")  # even a link inside: never followed
    (landing / "district-7").mkdir()
    os.mkfifo(landing / "pipe")

    listing = survey(landing, settle_s=0, now=NOW)
    assert [f.name for f in listing.files] == ["real.txt"]
    assert listing.skipped == {
        "dangling.txt": SYMLINK,
        "district-7": DIRECTORY,
        "pipe": SPECIAL_FILE,
        "to-real.txt": SYMLINK,
        "to-secret.txt": SYMLINK,
    }


def test_a_bookkeeping_folder_replaced_by_a_link_is_skipped_and_never_moved_into(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    landing = _landing(tmp_path, "bad.txt")
    (landing / QUARANTINE_FOLDER).symlink_to(outside, target_is_directory=True)

    assert survey(landing, settle_s=0, now=NOW).skipped == {QUARANTINE_FOLDER: SYMLINK}
    with pytest.raises(LandingError, match="quarantine is not a folder"):
        move(landing, "bad.txt", QUARANTINE_FOLDER, "not_base64: x")
    assert list(outside.iterdir()) == []
    assert (landing / "bad.txt").read_text(encoding="ascii") == "blob of bad.txt"


def test_a_landing_root_that_is_a_link_is_listed_where_it_points(tmp_path: Path) -> None:
    landing = _landing(tmp_path, "a.txt")
    alias = tmp_path / "alias"
    alias.symlink_to(landing, target_is_directory=True)
    assert _taken(alias) == ["a.txt"]
    assert lease_key(alias) == lease_key(landing)


# -- reading -------------------------------------------------------------------------------------


def test_a_claimed_file_is_read_whole(tmp_path: Path) -> None:
    landing = _landing(tmp_path)
    content = b"QUFB\r\n" * 1000
    (landing / "blob.txt").write_bytes(content)
    os.utime(landing / "blob.txt", (OLD, OLD))
    (file,) = survey(landing, settle_s=60, now=NOW).files
    assert read_file(landing, file) == content


@pytest.mark.parametrize("change", ["appended", "rewritten", "replaced", "removed", "swapped-for-a-link"])
def test_a_file_changed_after_it_was_claimed_is_not_read(tmp_path: Path, change: str) -> None:
    secret = _secret(tmp_path)
    landing = _landing(tmp_path, "blob.txt")
    (file,) = survey(landing, settle_s=60, now=NOW).files
    path = landing / "blob.txt"
    if change == "appended":
        with path.open("a", encoding="ascii") as out:
            out.write("more")
    elif change == "rewritten":
        _drop(path, "blob of blob.tx!", mtime=NOW)
    elif change == "replaced":
        _drop(landing / "new.tmp", "blob of blob.txt").replace(path)
    elif change == "removed":
        path.unlink()
    else:
        path.unlink()
        path.symlink_to(secret)

    assert read_file(landing, file) is None
    assert secret.read_text(encoding="ascii") == "TOP SECRET"


# -- moving --------------------------------------------------------------------------------------


def test_move_keeps_the_exact_bytes_and_writes_the_reason_beside_owner_only(tmp_path: Path) -> None:
    landing = _landing(tmp_path)
    content = bytes(range(256)) + b"\r\n  trailing  \n"
    source = landing / "junk.bin"
    source.write_bytes(content)
    source.chmod(0o644)

    assert move(landing, "junk.bin", QUARANTINE_FOLDER, "not_base64: not valid base64") == "junk.bin"
    assert not source.exists()
    moved = landing / QUARANTINE_FOLDER / "junk.bin"
    assert moved.read_bytes() == content
    reason = landing / QUARANTINE_FOLDER / "junk.bin.reason.txt"
    assert reason.read_text(encoding="utf-8") == "not_base64: not valid base64\n"
    assert stat.S_IMODE(moved.stat().st_mode) == 0o600
    assert stat.S_IMODE(reason.stat().st_mode) == 0o600
    assert stat.S_IMODE((landing / QUARANTINE_FOLDER).stat().st_mode) == 0o700
    assert survey(landing, settle_s=0, now=NOW).files == []


def test_move_without_a_reason_writes_no_reason_file(tmp_path: Path) -> None:
    landing = _landing(tmp_path, "one.txt")
    move(landing, "one.txt", PROCESSED_FOLDER)
    assert sorted(p.name for p in (landing / PROCESSED_FOLDER).iterdir()) == ["one.txt"]
    assert (landing / PROCESSED_FOLDER / "one.txt").read_text(encoding="ascii") == "blob of one.txt"


def test_a_later_file_with_the_same_name_does_not_replace_an_earlier_one(tmp_path: Path) -> None:
    landing = _landing(tmp_path)
    names = []
    for content in ("first learner's blob", "second learner's blob", "third learner's blob"):
        (landing / "session.txt").write_text(content, encoding="ascii")
        names.append(move(landing, "session.txt", QUARANTINE_FOLDER, f"why: {content}"))
    assert names == ["session.txt", "session.txt.1", "session.txt.2"]
    folder = landing / QUARANTINE_FOLDER
    for name, content in zip(names, ("first", "second", "third"), strict=True):
        assert (folder / name).read_text(encoding="ascii").startswith(content)
        assert (folder / f"{name}.reason.txt").read_text(encoding="utf-8").startswith(f"why: {content}")


def test_a_stray_reason_file_keeps_its_name_taken(tmp_path: Path) -> None:
    landing = _landing(tmp_path, "a.txt")
    (landing / QUARANTINE_FOLDER).mkdir()
    _drop(landing / QUARANTINE_FOLDER / "a.txt.reason.txt", "an earlier reason")
    assert move(landing, "a.txt", QUARANTINE_FOLDER, "empty: the blob is empty") == "a.txt.1"
    assert (landing / QUARANTINE_FOLDER / "a.txt.reason.txt").read_text() == "an earlier reason"


def test_a_file_changed_since_it_was_claimed_is_not_moved(tmp_path: Path) -> None:
    landing = _landing(tmp_path, "blob.txt")
    (file,) = survey(landing, settle_s=60, now=NOW).files
    _drop(landing / "blob.txt", "the writer's final version", mtime=NOW)
    assert move(landing, "blob.txt", QUARANTINE_FOLDER, "not_json: x", fingerprint=file.fingerprint) is None
    assert (landing / "blob.txt").read_text(encoding="ascii") == "the writer's final version"
    assert not (landing / QUARANTINE_FOLDER).exists() or not any((landing / QUARANTINE_FOLDER).iterdir())


def test_move_never_takes_a_name_outside_the_folder(tmp_path: Path) -> None:
    landing = _landing(tmp_path, "a.txt")
    for name, folder in (("../a.txt", PROCESSED_FOLDER), ("a.txt", "../elsewhere"), ("..", PROCESSED_FOLDER)):
        with pytest.raises(ValueError, match="cannot move"):
            move(landing, name, folder)


def test_settle_moves_only_the_files_of_completed_sessions_and_counts_real_moves(tmp_path: Path) -> None:
    landing = _landing(tmp_path, "done.txt", "failed.txt", "also-done.txt", "replaced.txt")
    claimed = {f.name: f.fingerprint for f in survey(landing, settle_s=60, now=NOW).files}
    _drop(landing / "replaced.txt", "a new upload under the same name", mtime=NOW)
    sources = {
        "s-done": BlobSource(origin="file", name="done.txt", fingerprint=claimed["done.txt"]),
        "s-also": BlobSource(origin="file", name="also-done.txt", fingerprint=claimed["also-done.txt"]),
        "s-failed": BlobSource(origin="file", name="failed.txt", fingerprint=claimed["failed.txt"]),
        "s-replaced": BlobSource(origin="file", name="replaced.txt", fingerprint=claimed["replaced.txt"]),
        "s-table": BlobSource(origin="table", name="done.txt"),  # a table row: nothing to move
    }
    moved = settle_files(landing, sources, ["s-done", "s-table", "s-unknown", "s-also", "s-replaced"])

    assert moved == 2
    assert sorted(p.name for p in (landing / PROCESSED_FOLDER).iterdir()) == ["also-done.txt", "done.txt"]
    assert _taken(landing, settle_s=0) == ["failed.txt", "replaced.txt"]


def test_settling_again_moves_nothing_more(tmp_path: Path) -> None:
    landing = _landing(tmp_path, "done.txt")
    sources = {"s-done": BlobSource(origin="file", name="done.txt")}
    assert settle_files(landing, sources, ["s-done"]) == 1
    assert settle_files(landing, sources, ["s-done"]) == 0  # already in processed/
    assert (landing / PROCESSED_FOLDER / "done.txt").read_text(encoding="ascii") == "blob of done.txt"


def test_settling_nothing_completed_creates_no_folder(tmp_path: Path) -> None:
    landing = _landing(tmp_path, "a.txt")
    assert settle_files(landing, {"s": BlobSource(origin="file", name="a.txt")}, []) == 0
    assert sorted(p.name for p in landing.iterdir()) == ["a.txt"]


# -- settings ------------------------------------------------------------------------------------


def test_settle_time_setting() -> None:
    assert parse_settle_s("60") == 60.0
    assert parse_settle_s(" 0.5 ") == 0.5
    for bad in ("soon", "-1", "nan", "inf"):
        with pytest.raises(LandingError, match="learnosity_failed_submissions_settle_s"):
            parse_settle_s(bad)


def test_allowed_sources_setting() -> None:
    assert parse_allowed_sources("") == []
    assert parse_allowed_sources('["/srv/a", " s3://b/c "]') == ["/srv/a", "s3://b/c"]
    assert parse_allowed_sources("/srv/a, /srv/b\n/srv/c\n") == ["/srv/a", "/srv/b", "/srv/c"]
    for bad in ("[not json", '[{"a": 1}]', "[1, 2]"):
        with pytest.raises(LandingError, match="learnosity_failed_submissions_allowed_sources"):
            parse_allowed_sources(bad)


# -- where a run may look (the trigger param `source`) --------------------------------------------


def test_no_source_means_the_configured_location(tmp_path: Path) -> None:
    configured = _landing(tmp_path).as_uri()
    assert landing_location(configured, None) == configured
    assert landing_location(configured, "  ") == configured


def test_a_source_inside_the_landing_location_is_accepted_however_it_is_spelled(tmp_path: Path) -> None:
    landing = _landing(tmp_path)
    (landing / "district-7" / "week-1").mkdir(parents=True)
    expected = (landing / "district-7").as_uri()
    for spelling in (
        "district-7",
        "district-7/",
        str(landing / "district-7"),
        expected,
        "./district-7/week-1/..",
    ):
        assert landing_location(landing.as_uri(), spelling) == expected
    assert landing_location(str(landing), "district-7/week-1") == (landing / "district-7" / "week-1").as_uri()
    assert landing_location(landing.as_uri(), str(landing)) == landing.as_uri()


@pytest.mark.parametrize(
    ("source", "why"),
    [
        ("{outside}", "outside the landing location"),
        ("file://{outside}", "outside the landing location"),
        ("../outside", "outside the landing location"),
        ("district-7/../../outside", "outside the landing location"),
        ("escape", "outside the landing location"),  # a link inside the root that points out
        ("/", "outside the landing location"),
        ("s3://bucket/landing", "outside the landing location"),
        ("quarantine", "bookkeeping folder"),
        ("processed/2026", "bookkeeping folder"),
        ("not-there", "not an existing folder"),
    ],
)
def test_a_source_anywhere_else_is_refused_naming_the_param(tmp_path: Path, source: str, why: str) -> None:
    landing = _landing(tmp_path, "a.txt")
    (landing / "district-7").mkdir()
    (landing / "quarantine" / "x").mkdir(parents=True)
    (landing / "processed" / "2026").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (landing / "escape").symlink_to(outside, target_is_directory=True)

    with pytest.raises(LandingError, match=f"param source: .*{why}"):
        landing_location(landing.as_uri(), source.format(outside=outside))


def test_an_admin_may_allow_other_locations(tmp_path: Path) -> None:
    landing = _landing(tmp_path)
    shared = tmp_path / "shared-drop"
    (shared / "district-9").mkdir(parents=True)
    allowed = [shared.as_uri(), "s3://bucket/drops"]
    assert (
        landing_location(landing.as_uri(), str(shared / "district-9"), allowed)
        == (shared / "district-9").as_uri()
    )
    assert landing_location(landing.as_uri(), "s3://bucket/drops/d1/", allowed) == "s3://bucket/drops/d1"
    for refused in ("s3://bucket/drops-other", "s3://bucket/drops/../secrets", "s3://other/drops"):
        with pytest.raises(LandingError, match="param source"):
            landing_location(landing.as_uri(), refused, allowed)


def test_an_object_store_landing_accepts_its_own_sub_folders() -> None:
    configured = "s3://aws_conn@bucket/landing"
    assert landing_location(configured, "district-7") == "s3://aws_conn@bucket/landing/district-7"
    for refused in ("s3://bucket/landing/district-7", "s3://aws_conn@bucket/landing2", "../x"):
        with pytest.raises(LandingError, match="param source"):
            landing_location(configured, refused)


# -- object stores (fsspec's in-memory store: no links, whole objects) ---------------------------


def test_an_object_store_landing_lists_reads_and_moves_without_overwriting() -> None:
    landing = UPath(f"memory://landing-{uuid.uuid4().hex}")
    landing.mkdir(parents=True)
    (landing / "a.txt").write_text("blob a")
    (landing / "b.txt.part").write_text("half")
    (landing / "district-7").mkdir()
    (landing / "district-7" / "inner.txt").write_text("not listed")
    (landing / QUARANTINE_FOLDER).mkdir()
    (landing / QUARANTINE_FOLDER / "a.txt").write_text("an earlier a")

    listing = survey(landing, settle_s=0, now=time.time() + 1)
    assert [f.name for f in listing.files] == ["a.txt"]
    assert listing.waiting == {"b.txt.part": TEMPORARY_NAME}
    assert listing.skipped == {"district-7": DIRECTORY}
    (file,) = listing.files
    assert read_file(landing, file) == b"blob a"

    assert move(landing, "a.txt", QUARANTINE_FOLDER, "why", fingerprint=file.fingerprint) == "a.txt.1"
    assert (landing / QUARANTINE_FOLDER / "a.txt").read_text() == "an earlier a"
    assert (landing / QUARANTINE_FOLDER / "a.txt.1").read_text() == "blob a"
    assert (landing / QUARANTINE_FOLDER / "a.txt.1.reason.txt").read_text() == "why\n"
    assert not (landing / "a.txt").exists()
