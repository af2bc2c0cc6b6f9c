"""Staged batches: request-ready files in object storage, so XCom carries only paths and counts.

A run's stage folder holds one file per template, one per batch (at most 50 sessions of one
activity) and one per shard (the batches one submit task sends). Any pathlib-like object works:
a `pathlib.Path` in tests, an Airflow `ObjectStoragePath` (local folder or fsspec URL) in DAGs.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Literal, Protocol, TypeVar

from pydantic import BaseModel

DataFormat = Literal["from_template", "failed_submission"]
PLAN_FILE = "plan.json"
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
    (stage / "templates").mkdir(parents=True, exist_ok=True)
    template_path(stage, activity_id).write_text(json.dumps(template, ensure_ascii=False), encoding="utf-8")


def read_template(stage: StoragePath, activity_id: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(template_path(stage, activity_id).read_text(encoding="utf-8"))
    return loaded


def batch_file(batch_id: str) -> str:
    """The file a batch is staged in (the name shards list and verification reads back)."""
    return f"{safe_name(batch_id)}.json"


def write_batch(stage: StoragePath, batch: StagedBatch) -> str:
    folder = stage / "batches"
    folder.mkdir(parents=True, exist_ok=True)
    name = batch_file(batch.batch_id)
    (folder / name).write_text(batch.model_dump_json(), encoding="utf-8")
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
    folder.mkdir(parents=True, exist_ok=True)
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
    (folder / name).write_text(head[:-1] + ',"entries":[' + ",".join(session_json) + "]}", encoding="utf-8")
    return name


def read_batch(stage: StoragePath, name: str) -> StagedBatch:
    return StagedBatch.model_validate_json((stage / "batches" / name).read_text(encoding="utf-8"))


def assign_shards(batch_names: Sequence[str], max_shards: int) -> list[list[str]]:
    """Spread batches round-robin over at most `max_shards` shards (one mapped task each)."""
    count = max(1, min(max_shards, len(batch_names)))
    shards: list[list[str]] = [[] for _ in range(count)]
    for index, name in enumerate(batch_names):
        shards[index % count].append(name)
    return [s for s in shards if s]


def write_shards(
    stage: StoragePath, shards: Iterable[list[str]], sessions_per_batch: dict[str, int]
) -> list[Shard]:
    folder = stage / "shards"
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Shard] = []
    for number, names in enumerate(shards, start=1):
        path = folder / f"shard-{number:04d}.json"
        path.write_text(json.dumps(names), encoding="utf-8")
        sessions = sum(sessions_per_batch[n] for n in names)
        written.append(
            Shard(
                shard=number,
                stage=str(stage),
                path=str(path),
                batches=len(names),
                sessions=sessions,
                label=f"shard {number}: {len(names)} batches, {sessions} sessions",
            )
        )
    return written


def read_shard(stage: StoragePath, shard: int) -> list[str]:
    names: list[str] = json.loads((stage / "shards" / f"shard-{shard:04d}.json").read_text(encoding="utf-8"))
    return names


def write_plan_summary(stage: StoragePath, summary: BaseModel) -> None:
    """What a plan decided, beside its batches, for the tasks after it (both pipelines alike)."""
    (stage / PLAN_FILE).write_text(summary.model_dump_json(indent=2), encoding="utf-8")


class PlanMissingError(FileNotFoundError):
    """The run has no plan summary: its plan task failed, so nothing was staged or sent."""


def read_plan_summary(stage: StoragePath, model: type[Summary]) -> Summary:
    path = stage / PLAN_FILE
    if not path.exists():
        raise PlanMissingError(
            f"no {PLAN_FILE} in {stage}: the plan task did not finish, so nothing was staged or sent; "
            "its log says why"
        )
    return model.model_validate_json(path.read_text(encoding="utf-8"))
