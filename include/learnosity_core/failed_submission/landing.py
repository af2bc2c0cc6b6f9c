"""The landing folder: where support staff drop blob files, and where each file ends up.

Files are never deleted: an invalid one moves to `quarantine/` with a `.reason.txt` beside it, a
superseded duplicate to `duplicates/`, and a replayed one to `processed/` only after its session
completed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel

from learnosity_core.delivery.staging import StoragePath

QUARANTINE_FOLDER = "quarantine"
DUPLICATES_FOLDER = "duplicates"
PROCESSED_FOLDER = "processed"


class BlobSource(BaseModel):
    """Where a blob came from: a landing file (its name) or a warehouse row (its id)."""

    origin: Literal["file", "table"]
    name: str


def landing_files(landing: StoragePath) -> list[Any]:
    """Blob files directly in the landing folder (not in its bookkeeping sub-folders)."""
    if not landing.exists():
        return []
    files = [p for p in landing.iterdir() if p.is_file() and not p.name.endswith(".reason.txt")]
    return sorted(files, key=lambda p: p.name)


def free_name(folder: StoragePath, name: str) -> str:
    """`name`, or `name.1`, `name.2`, ... when a file of that name is already in `folder`."""
    candidate, number = name, 0
    while (folder / candidate).exists():
        number += 1
        candidate = f"{name}.{number}"
    return candidate


def move(path: Any, landing: StoragePath, folder: str, reason: str | None = None) -> str:
    """Move a landing file into a sub-folder (never delete, never overwrite), with its reason
    beside it; return the name it has there."""
    target_dir = landing / folder
    target_dir.mkdir(parents=True, exist_ok=True)
    name = free_name(target_dir, path.name)
    (target_dir / name).write_bytes(path.read_bytes())
    if reason is not None:
        (target_dir / f"{name}.reason.txt").write_text(reason + "\n", encoding="utf-8")
    path.unlink()
    return name


def settle_files(landing: StoragePath, sources: Mapping[str, BlobSource], completed: Iterable[str]) -> int:
    """Move the files of completed sessions to processed/; the others stay for the next run."""
    moved = 0
    for session_id in completed:
        source = sources.get(session_id)
        if source is None or source.origin != "file":
            continue
        path = landing / source.name
        if path.exists():
            move(path, landing, PROCESSED_FOLDER)
            moved += 1
    return moved
