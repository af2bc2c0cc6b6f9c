"""Staged batches: request-ready files in object storage, so XCom carries only paths and counts.

A run's stage folder holds one file per template, one per batch (at most 50 sessions of one
activity) and one per shard (the batches one submit task sends). Any pathlib-like object works:
a `pathlib.Path` in tests, an Airflow `ObjectStoragePath` (local folder or fsspec URL) in DAGs.

Staged files hold learner responses in clear: on a local disk they are created readable by the
owner only (files 0600, folders 0700), and a run's stage folder is removed once its report is
written with nothing failed; what a failed run left behind expires after the retention period.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path, PurePath
from typing import IO, Any, Literal, Protocol, TypeVar

from pydantic import BaseModel

DataFormat = Literal["from_template", "failed_submission"]
PLAN_FILE = "plan.json"
RETENTION_SETTING = "learnosity_stage_retention_days"
DEFAULT_RETENTION = timedelta(days=7)
_LOCAL_PROTOCOLS = ("file", "local")
Summary = TypeVar("Summary", bound=BaseModel)


class StoragePath(Protocol):
    """The slice of the pathlib API that both pathlib.Path and ObjectStoragePath provide."""

    @property
    def name(self) -> str: ...
    def __truediv__(self, other: str, /) -> Any: ...
    def mkdir(self, mode: int = ..., parents: bool = ..., exist_ok: bool = ...) -> None: ...
    def write_text(self, data: str, encoding: str | None = ...) -> int: ...
    def read_text(self, encoding: str | None = ...) -> str: ...
    def exists(self) -> bool: ...
    def iterdir(self) -> Iterator[Any]: ...


class StagedBatch(BaseModel):
    """One request's worth of sessions: a from_template batch refers to its activity's template."""

    batch_id: str
    data_format: DataFormat
    activity_id: str | None = None
    session_ids: list[str]
    entries: list[Any]


class Shard(BaseModel):
    """The batches one mapped submit task sends; `label` is what the Airflow UI shows."""

    shard: int
    stage: str
    path: str
    batches: int
    sessions: int
    label: str
    # The run the batches belong to (absent in shards written before 2026-12): resuming asks the
    # ledger for the run's posted batches at once instead of reading each batch.
    dag_id: str | None = None
    run_id: str | None = None


def local_path(path: Any) -> Path | None:
    """The local file system path behind `path` (a pathlib path or a `file://` storage path), or
    None for an object store, where owner-only modes and symlinks do not exist."""
    if isinstance(path, PurePath):
        return Path(path)
    if getattr(path, "protocol", None) in _LOCAL_PROTOCOLS:
        return Path(path.path)
    return None


def make_private_dir(path: Any) -> None:
    """Create a folder (and its parents); on a local disk the folder itself is owner-only."""
    local = local_path(path)
    if local is None:
        path.mkdir(parents=True, exist_ok=True)
        return
    local.mkdir(mode=0o700, parents=True, exist_ok=True)
    local.chmod(0o700)


@contextmanager
def open_private_text(path: Any) -> Iterator[IO[str]]:
    """A file with learner data, open for writing as it is produced: on a local disk it is never
    readable by others, not even for the moment between creating and writing it."""
    local = local_path(path)
    if local is None:
        with path.open("w", encoding="utf-8", newline="") as remote:
            yield remote
        return
    if not local.parent.exists():  # an existing folder keeps its mode: it may not be ours
        make_private_dir(local.parent)
    fd = os.open(local, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
        os.fchmod(out.fileno(), 0o600)  # an existing file keeps its mode through O_CREAT
        yield out


def write_private_text(path: Any, text: str) -> None:
    """Write a whole file with learner data (see `open_private_text`)."""
    with open_private_text(path) as out:
        out.write(text)


def remove_stage(stage: Any) -> None:
    """Delete a run's stage folder and everything in it (nothing when it is already gone)."""
    local = local_path(stage)
    if local is not None:
        shutil.rmtree(local, ignore_errors=True)
    elif stage.exists():
        stage.rmdir(recursive=True)


def _newest_change(folder: Any) -> datetime | None:
    local = local_path(folder)
    if local is None:
        return None  # object stores: retention is their lifecycle rule's job
    times = [p.lstat().st_mtime for p in local.rglob("*")] + [local.lstat().st_mtime]
    return datetime.fromtimestamp(max(times)).astimezone()


def expire_stages(dag_stage: Any, retention: timedelta, now: datetime) -> list[str]:
    """Remove the run folders under one DAG's stage folder that nothing changed for `retention`
    (runs that failed and kept their files for a look); return their names."""
    local = local_path(dag_stage)
    if local is None or not local.is_dir():
        return []
    expired = []
    for run in sorted(local.iterdir()):
        if run.is_symlink() or not run.is_dir():
            continue
        changed = _newest_change(run)
        if changed is not None and now - changed >= retention:
            remove_stage(run)
            expired.append(run.name)
    return expired


def safe_name(value: str) -> str:
    """A file-name-safe form of an id (run ids and activity ids contain ':' and '/').

    An id that had to change keeps a short hash of itself, so two ids never share a file name.
    """
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", value)
    if safe == value and len(value) <= 120:
        return value
    return f"{safe[:110]}-{hashlib.sha256(value.encode('utf-8')).hexdigest()[:8]}"


def template_path(stage: StoragePath, activity_id: str) -> StoragePath:
    return stage / "templates" / f"{safe_name(activity_id)}.json"


def write_template(stage: StoragePath, activity_id: str, template: dict[str, Any]) -> None:
    make_private_dir(stage / "templates")
    write_private_text(template_path(stage, activity_id), json.dumps(template, ensure_ascii=False))


def read_template(stage: StoragePath, activity_id: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(template_path(stage, activity_id).read_text(encoding="utf-8"))
    return loaded


def batch_file(batch_id: str) -> str:
    """The file a batch is staged in (the name shards list and verification reads back)."""
    return f"{safe_name(batch_id)}.json"


def write_batch(stage: StoragePath, batch: StagedBatch) -> str:
    folder = stage / "batches"
    make_private_dir(folder)
    name = batch_file(batch.batch_id)
    write_private_text(folder / name, batch.model_dump_json())
    return name


def write_session_json_batch(
    stage: StoragePath,
    batch_id: str,
    activity_id: str,
    session_ids: Sequence[str],
    session_json: Sequence[str],
) -> str:
    """Write a from_template batch from pre-serialised session entries without re-encoding them."""
    folder = stage / "batches"
    make_private_dir(folder)
    name = batch_file(batch_id)
    head = json.dumps(
        {
            "batch_id": batch_id,
            "data_format": "from_template",
            "activity_id": activity_id,
            "session_ids": list(session_ids),
        },
        ensure_ascii=False,
    )
    write_private_text(folder / name, head[:-1] + ',"entries":[' + ",".join(session_json) + "]}")
    return name


def read_batch(stage: StoragePath, name: str) -> StagedBatch:
    return StagedBatch.model_validate_json((stage / "batches" / name).read_text(encoding="utf-8"))


def assign_shards(batch_names: Sequence[str], max_shards: int) -> list[list[str]]:
    """Cut the batches, in order, into at most `max_shards` runs of nearly equal length (one
    mapped task each): a shard is a range of batches, so its label can name it."""
    count = max(1, min(max_shards, len(batch_names)))
    size, extra = divmod(len(batch_names), count)
    shards: list[list[str]] = []
    start = 0
    for index in range(count):
        end = start + size + (1 if index < extra else 0)
        shards.append(list(batch_names[start:end]))
        start = end
    return [s for s in shards if s]


def _groups_text(groups: list[str]) -> str:
    distinct = list(dict.fromkeys(groups))
    if len(distinct) <= 2:
        return ", ".join(distinct)
    return f"{distinct[0]} … {distinct[-1]} ({len(distinct)} activities)"


def write_shards(
    stage: StoragePath,
    shards: Iterable[list[str]],
    sessions_per_batch: dict[str, int],
    group_of_batch: Mapping[str, str] | None = None,
    run: tuple[str, str] | None = None,
) -> list[Shard]:
    """Write each shard's batch list; its label (the mapped task's name in the UI) says which
    batches of the `run` (dag id, run id) it sends, of which activities (`group_of_batch`), and
    how many sessions."""
    folder = stage / "shards"
    make_private_dir(folder)
    shards = list(shards)
    total = sum(len(names) for names in shards)
    written: list[Shard] = []
    first = 1
    for number, names in enumerate(shards, start=1):
        path = folder / f"shard-{number:04d}.json"
        write_private_text(path, json.dumps(names))
        sessions = sum(sessions_per_batch[n] for n in names)
        last = first + len(names) - 1
        groups = [group_of_batch[n] for n in names if n in group_of_batch] if group_of_batch else []
        what = f" ({_groups_text(groups)})" if groups else ""
        written.append(
            Shard(
                shard=number,
                stage=str(stage),
                path=str(path),
                batches=len(names),
                sessions=sessions,
                label=f"shard {number}: batches {first}-{last} of {total}{what}, {sessions} sessions",
                dag_id=run[0] if run else None,
                run_id=run[1] if run else None,
            )
        )
        first = last + 1
    return written


def read_shard(stage: StoragePath, shard: int) -> list[str]:
    names: list[str] = json.loads((stage / "shards" / f"shard-{shard:04d}.json").read_text(encoding="utf-8"))
    return names


def write_plan_summary(stage: StoragePath, summary: BaseModel) -> None:
    """What a plan decided, beside its batches, for the tasks after it (both pipelines alike)."""
    write_private_text(stage / PLAN_FILE, summary.model_dump_json(indent=2))


class PlanMissingError(FileNotFoundError):
    """The run has no plan summary: its plan task failed, so nothing was staged or sent."""


def read_plan_summary(stage: StoragePath, model: type[Summary]) -> Summary:
    path = stage / PLAN_FILE
    if not path.exists():
        raise PlanMissingError(
            f"no {PLAN_FILE} in {stage}: the plan task did not finish, so nothing was staged or sent "
            "(its log says why), or the run already completed and its stage folder was removed"
        )
    return model.model_validate_json(path.read_text(encoding="utf-8"))
