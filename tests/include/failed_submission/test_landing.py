"""The landing folder: which files count as blobs, and how files move (never deleted)."""

from __future__ import annotations

from pathlib import Path

from learnosity_core.failed_submission.landing import (
    PROCESSED_FOLDER,
    QUARANTINE_FOLDER,
    BlobSource,
    landing_files,
    move,
    settle_files,
)


def _landing(tmp_path: Path, *names: str) -> Path:
    landing = tmp_path / "landing"
    landing.mkdir()
    for name in names:
        (landing / name).write_text(f"blob of {name}", encoding="ascii")
    return landing


def test_a_missing_landing_folder_has_no_files(tmp_path: Path) -> None:
    assert landing_files(tmp_path / "nowhere") == []


def test_only_files_directly_in_the_landing_folder_count_in_name_order(tmp_path: Path) -> None:
    landing = _landing(tmp_path, "b.txt", "a.bin", "c", "a.txt.reason.txt")
    for folder in (QUARANTINE_FOLDER, PROCESSED_FOLDER, "duplicates"):
        (landing / folder).mkdir()
        (landing / folder / "old.txt").write_text("moved earlier", encoding="ascii")

    assert [p.name for p in landing_files(landing)] == ["a.bin", "b.txt", "c"]
    assert all(p.parent == landing for p in landing_files(landing))


def test_move_keeps_the_exact_bytes_and_writes_the_reason_beside(tmp_path: Path) -> None:
    landing = _landing(tmp_path)
    content = bytes(range(256)) + b"\r\n  trailing  \n"
    source = landing / "junk.bin"
    source.write_bytes(content)

    move(source, landing, QUARANTINE_FOLDER, "not_base64: not valid base64")
    assert not source.exists()
    assert (landing / QUARANTINE_FOLDER / "junk.bin").read_bytes() == content
    reason = landing / QUARANTINE_FOLDER / "junk.bin.reason.txt"
    assert reason.read_text(encoding="utf-8") == "not_base64: not valid base64\n"
    assert landing_files(landing) == []


def test_move_without_a_reason_writes_no_reason_file(tmp_path: Path) -> None:
    landing = _landing(tmp_path, "one.txt")
    move(landing / "one.txt", landing, PROCESSED_FOLDER)
    assert sorted(p.name for p in (landing / PROCESSED_FOLDER).iterdir()) == ["one.txt"]
    assert (landing / PROCESSED_FOLDER / "one.txt").read_text(encoding="ascii") == "blob of one.txt"


def test_settle_moves_only_the_files_of_completed_sessions(tmp_path: Path) -> None:
    landing = _landing(tmp_path, "done.txt", "failed.txt", "also-done.txt")
    sources = {
        "s-done": BlobSource(origin="file", name="done.txt"),
        "s-also": BlobSource(origin="file", name="also-done.txt"),
        "s-failed": BlobSource(origin="file", name="failed.txt"),
        "s-table": BlobSource(origin="table", name="done.txt"),  # a table row: nothing to move
    }
    moved = settle_files(landing, sources, ["s-done", "s-table", "s-unknown", "s-also"])

    assert moved == 2
    assert sorted(p.name for p in (landing / PROCESSED_FOLDER).iterdir()) == ["also-done.txt", "done.txt"]
    assert [p.name for p in landing_files(landing)] == ["failed.txt"]


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


def test_a_later_file_with_the_same_name_does_not_replace_an_earlier_one(tmp_path: Path) -> None:
    landing = _landing(tmp_path)
    for content in ("first learner's blob", "second learner's blob"):
        (landing / "session.txt").write_text(content, encoding="ascii")
        move(landing / "session.txt", landing, PROCESSED_FOLDER)
    kept = {p.read_text(encoding="ascii") for p in (landing / PROCESSED_FOLDER).iterdir()}
    assert kept == {"first learner's blob", "second learner's blob"}
