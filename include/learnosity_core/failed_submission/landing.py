"""The landing folder: which of its entries a run may take, and where each taken file ends up.

Uploaders drop one blob per file. A run takes only regular files that stopped changing: modified
at least the settle time ago (Variable `learnosity_failed_submissions_settle_s`, default 60 s).
Names ending `.part` or `.tmp` are uploads in progress and always wait; an uploader that writes
`<name>.part` and renames it to `<name>` when complete publishes a whole file at once, so a
deployment whose uploaders all do that may set the settle time to 0. Symlinks, folders, devices,
FIFOs, sockets and hidden (dot) files are never taken: they are skipped and reported.

Nothing outside the landing location is ever read, moved or written: entries are the names listed
directly in it, checked without following links, opened with `O_NOFOLLOW`, and moved by hard link
within it. Files are never deleted or overwritten: an invalid one moves to `quarantine/` with a
`.reason.txt` beside it, a superseded duplicate to `duplicates/`, a replayed one to `processed/`
only after its session completed; a name already there gets a `.1`, `.2`, ... suffix. On a local
disk those folders are owner-only (0700) and the files in them 0600.

Object stores (any other fsspec URL) have no links or devices and publish an object whole, so
their entries are only checked for being folders and for the settle time when the store reports
a modification time.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import posixpath
import stat
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field

from learnosity_core.delivery.staging import StoragePath, local_path
from learnosity_core.failed_submission.blob import MAX_DECODED_BYTES

QUARANTINE_FOLDER: Final = "quarantine"
DUPLICATES_FOLDER: Final = "duplicates"
PROCESSED_FOLDER: Final = "processed"
BOOKKEEPING_FOLDERS: Final = (QUARANTINE_FOLDER, DUPLICATES_FOLDER, PROCESSED_FOLDER)
TEMPORARY_SUFFIXES: Final = (".part", ".tmp")

SETTLE_SETTING: Final = "learnosity_failed_submissions_settle_s"
DEFAULT_SETTLE_S: Final = 60.0
ALLOWED_SOURCES_SETTING: Final = "learnosity_failed_submissions_allowed_sources"
LEASE_TTL: Final = timedelta(hours=12)
# The longest blob file read: a blob at the decoded limit, plus room for the line breaks that
# copying adds. Anything larger is quarantined as too_large from its size alone, never read.
MAX_FILE_BYTES: Final = 4 * math.ceil(MAX_DECODED_BYTES / 3) * 5 // 4

# Why an entry was not taken this run (skipped entries stay where they are, every run).
SYMLINK: Final = "symlink"
OUTSIDE_ROOT: Final = "outside_root"
DIRECTORY: Final = "directory"
SPECIAL_FILE: Final = "special_file"  # device, FIFO or socket
HIDDEN: Final = "hidden"
VANISHED: Final = "vanished"
# Why a file waits for a later run.
TEMPORARY_NAME: Final = "temporary_name"
STILL_CHANGING: Final = "still_changing"
CHANGED_WHILE_READ: Final = "changed_while_read"


class LandingError(ValueError):
    """The landing location or the run's `source` cannot be used; the message names the setting."""


class BlobSource(BaseModel):
    """Where a blob came from: a landing file (its name, and what it was when this run claimed it)
    or a warehouse row (its id)."""

    origin: Literal["file", "table"]
    name: str
    fingerprint: str | None = None


class LandingFile(BaseModel):
    """A settled regular file a run claimed: its size from `stat`, and a fingerprint that changes
    when the file is rewritten or replaced."""

    name: str
    size: int
    fingerprint: str


class LandingSurvey(BaseModel):
    """Every entry of the landing folder, once: taken, waiting (why) or skipped (why)."""

    files: list[LandingFile] = Field(default_factory=list)
    waiting: dict[str, str] = Field(default_factory=dict)
    skipped: dict[str, str] = Field(default_factory=dict)


# -- where a run may look ----------------------------------------------------------------------


def parse_allowed_sources(text: str) -> list[str]:
    """Variable `learnosity_failed_submissions_allowed_sources`: a JSON list, or one location per
    line or comma; empty means only sub-folders of the landing location."""
    text = text.strip()
    if not text:
        return []
    if text.startswith("["):
        try:
            values = json.loads(text)
        except ValueError as exc:
            raise LandingError(f"Variable {ALLOWED_SOURCES_SETTING}: not a JSON list ({exc})") from None
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise LandingError(f"Variable {ALLOWED_SOURCES_SETTING}: must be a list of locations")
        return [v.strip() for v in values if v.strip()]
    return [v.strip() for v in text.replace(",", "\n").splitlines() if v.strip()]


def parse_settle_s(text: str) -> float:
    """Variable `learnosity_failed_submissions_settle_s`: seconds a file must be unchanged."""
    try:
        value = float(text)
    except ValueError:
        raise LandingError(f"Variable {SETTLE_SETTING}: {text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise LandingError(f"Variable {SETTLE_SETTING}: must be 0 or more seconds, got {text!r}")
    return value


def _is_local(url: str) -> bool:
    return urlsplit(url).scheme in ("", "file", "local")


def _normal(url: str) -> tuple[str, str]:
    """(store, path) with links resolved (local) or dots collapsed (object stores)."""
    if _is_local(url):
        path = urlsplit(url).path if url.startswith(("file:", "local:")) else url
        return "file", os.path.realpath(path)
    parts = urlsplit(url)
    if ".." in parts.path.split("/"):
        raise LandingError(f"{url!r} contains '..'")
    return f"{parts.scheme}://{parts.netloc}", posixpath.normpath("/" + parts.path.lstrip("/"))


def _inside(path: str, root: str) -> str | None:
    """`path` relative to `root` ('.' for the root itself), or None when it is not inside."""
    if path == root:
        return "."
    prefix = root.rstrip("/") + "/"
    return path[len(prefix) :] if path.startswith(prefix) else None


def landing_location(configured: str, source: str | None, allowed: Sequence[str] = ()) -> str:
    """The location this run lists: the configured one, or the trigger param `source` when it names
    a folder inside it (a relative name is taken inside it) or inside a location an admin listed in
    Variable `learnosity_failed_submissions_allowed_sources`. Anything else is refused before any
    file is touched: a param that could name any folder would let whoever triggers the DAG empty
    folders the worker can write."""
    if not source or not source.strip():
        return configured
    source = source.strip()
    if "\x00" in source:
        raise LandingError("param source: contains a NUL character")
    relative = urlsplit(source).scheme == "" and not os.path.isabs(source)
    if relative and _is_local(configured):
        candidate = os.path.join(_normal(configured)[1], source)
    elif relative:
        candidate = configured.rstrip("/") + "/" + source
    else:
        candidate = source
    try:
        store, path = _normal(candidate)
        roots = [_normal(configured), *(_normal(a) for a in allowed)]
    except LandingError as exc:
        raise LandingError(f"param source: {exc}") from None
    for root_store, root in roots:
        inner = _inside(path, root) if store == root_store else None
        if inner is None:
            continue
        if inner.split("/")[0] in BOOKKEEPING_FOLDERS:
            raise LandingError(
                f"param source: {source!r} is a bookkeeping folder ({inner.split('/')[0]}/); "
                "its files were already handled"
            )
        if store == "file":
            if not os.path.isdir(path):
                raise LandingError(f"param source: {source!r} is not an existing folder")
            return Path(path).as_uri()
        return f"{store}{path}"
    raise LandingError(
        f"param source: {source!r} is outside the landing location {configured}; it may only name a "
        f"folder inside it, or inside a location listed in Variable {ALLOWED_SOURCES_SETTING}"
    )


def lease_key(landing: StoragePath) -> str:
    """The name two runs on one landing location share, however each spelled the location."""
    local = local_path(landing)
    return "landing:" + (os.path.realpath(local) if local is not None else str(landing))


# -- what is in the folder ---------------------------------------------------------------------


def _by_name(name: str) -> str | None:
    """Why a file waits or is skipped for its name alone, before looking at it."""
    if name.startswith("."):
        return HIDDEN
    if name.endswith(TEMPORARY_SUFFIXES):
        return TEMPORARY_NAME
    return None


def _local_fingerprint(st: os.stat_result) -> str:
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"


def _survey_local(root: Path, settle_s: float, now: float) -> LandingSurvey:
    found = LandingSurvey()
    real_root = os.path.realpath(root)
    with os.scandir(real_root) as entries:
        listed = sorted(entries, key=lambda e: e.name)
    for entry in listed:
        name = entry.name
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            found.skipped[name] = VANISHED
            continue
        if name in BOOKKEEPING_FOLDERS and stat.S_ISDIR(st.st_mode):
            continue
        if stat.S_ISLNK(st.st_mode):
            found.skipped[name] = SYMLINK
        elif stat.S_ISDIR(st.st_mode):
            found.skipped[name] = DIRECTORY
        elif not stat.S_ISREG(st.st_mode):
            found.skipped[name] = SPECIAL_FILE
        elif os.path.realpath(os.path.join(real_root, name)) != os.path.join(real_root, name):
            found.skipped[name] = OUTSIDE_ROOT
        elif (why := _by_name(name)) is not None:
            (found.skipped if why == HIDDEN else found.waiting)[name] = why
        elif now - st.st_mtime < settle_s:
            found.waiting[name] = STILL_CHANGING
        else:
            found.files.append(LandingFile(name=name, size=st.st_size, fingerprint=_local_fingerprint(st)))
    return found


def _modified(info: Mapping[str, Any]) -> float | None:
    for key in ("mtime", "LastModified", "last_modified", "updated", "modified"):
        value = info.get(key)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return None


def _remote_fingerprint(info: Mapping[str, Any]) -> str:
    tag = info.get("ETag") or info.get("etag") or info.get("md5Hash") or _modified(info)
    return f"{info.get('size')}:{tag}"


def _survey_remote(landing: Any, settle_s: float, now: float) -> LandingSurvey:
    found = LandingSurvey()
    root = landing.path.rstrip("/")
    for info in sorted(landing.fs.ls(root, detail=True), key=lambda i: str(i["name"])):
        full = str(info["name"]).rstrip("/")
        name = posixpath.basename(full)
        if posixpath.dirname(full) != root or name in ("", ".", ".."):
            found.skipped[name or full] = OUTSIDE_ROOT
        elif info.get("type") == "directory":
            if name not in BOOKKEEPING_FOLDERS:
                found.skipped[name] = DIRECTORY
        elif info.get("type") != "file" or info.get("islink"):
            found.skipped[name] = SPECIAL_FILE if not info.get("islink") else SYMLINK
        elif (why := _by_name(name)) is not None:
            (found.skipped if why == HIDDEN else found.waiting)[name] = why
        elif (modified := _modified(info)) is not None and now - modified < settle_s:
            found.waiting[name] = STILL_CHANGING
        else:
            found.files.append(
                LandingFile(name=name, size=int(info.get("size") or 0), fingerprint=_remote_fingerprint(info))
            )
    return found


def survey(landing: StoragePath, *, settle_s: float, now: float) -> LandingSurvey:
    """Every entry directly in the landing folder (its bookkeeping sub-folders aside), in name order."""
    local = local_path(landing)
    if local is not None:
        return _survey_local(local, settle_s, now) if local.is_dir() else LandingSurvey()
    return _survey_remote(landing, settle_s, now) if landing.exists() else LandingSurvey()


def read_file(landing: StoragePath, file: LandingFile) -> bytes | None:
    """A claimed file's bytes (never more than its size at claim time), or None when it is no longer
    the file that was claimed: rewritten, replaced, grown or removed since (it waits for a later run)."""
    local = local_path(landing)
    if local is None:
        return _read_remote(landing, file)
    path = os.path.join(os.path.realpath(local), file.name)
    try:
        # O_NONBLOCK: a FIFO swapped in after the listing must not hang the task
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        before = os.fstat(handle.fileno())
        if not stat.S_ISREG(before.st_mode) or _local_fingerprint(before) != file.fingerprint:
            return None
        data = handle.read(file.size + 1)
        after = os.fstat(handle.fileno())
    if len(data) != file.size or _local_fingerprint(after) != file.fingerprint:
        return None
    return data


def _read_remote(landing: Any, file: LandingFile) -> bytes | None:
    path = f"{landing.path.rstrip('/')}/{file.name}"
    try:
        if _remote_fingerprint(landing.fs.info(path)) != file.fingerprint:
            return None
        with landing.fs.open(path, "rb") as handle:
            data: bytes = handle.read(file.size + 1)
    except FileNotFoundError:
        return None
    return data if len(data) == file.size else None


# -- where a file goes -------------------------------------------------------------------------


def _private_folder(root: str, folder: str) -> str:
    """A bookkeeping sub-folder, created owner-only; refused when something put a link there."""
    path = os.path.join(root, folder)
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise LandingError(
            f"landing sub-folder {path} is not a folder (a symlink or file is in its place); "
            "move it away: files are never moved through a link"
        )
    return path


def _claim_name(target_dir: str, name: str, reason: str | None) -> tuple[str, str | None]:
    """A name free in `target_dir` (`name`, `name.1`, ...), with its reason file created there
    exclusively, so that a name taken at the same moment is never overwritten."""
    number = 0
    while True:
        candidate = name if number == 0 else f"{name}.{number}"
        number += 1
        if os.path.lexists(os.path.join(target_dir, candidate)):
            continue
        if reason is None:
            return candidate, None
        reason_path = os.path.join(target_dir, f"{candidate}.reason.txt")
        try:
            fd = os.open(reason_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(reason + "\n")
        return candidate, reason_path


def _owner_only(path: str) -> None:
    """Mode 0600 without following a link; another user's file may refuse, and then the
    owner-only folder still keeps it from others."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        try:
            os.fchmod(fd, 0o600)
        finally:
            os.close(fd)


def _move_local(root: str, name: str, folder: str, reason: str | None, fingerprint: str | None) -> str | None:
    source = os.path.join(root, name)
    try:
        st = os.lstat(source)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode) or (fingerprint is not None and _local_fingerprint(st) != fingerprint):
        return None
    target_dir = _private_folder(root, folder)
    while True:
        candidate, reason_path = _claim_name(target_dir, name, reason)
        target = os.path.join(target_dir, candidate)
        try:
            os.link(source, target, follow_symlinks=False)
            break
        except FileExistsError:
            if reason_path is not None:
                os.unlink(reason_path)
        except FileNotFoundError:
            if reason_path is not None:
                os.unlink(reason_path)
            return None
    os.unlink(source)
    _owner_only(target)
    return candidate


def _move_remote(
    landing: Any, name: str, folder: str, reason: str | None, fingerprint: str | None
) -> str | None:
    fs, root = landing.fs, landing.path.rstrip("/")
    source = f"{root}/{name}"
    try:
        info = fs.info(source)
    except FileNotFoundError:
        return None
    if fingerprint is not None and _remote_fingerprint(info) != fingerprint:
        return None
    target_dir = f"{root}/{folder}"
    number, candidate = 0, name
    while fs.exists(f"{target_dir}/{candidate}") or fs.exists(f"{target_dir}/{candidate}.reason.txt"):
        number += 1
        candidate = f"{name}.{number}"
    fs.copy(source, f"{target_dir}/{candidate}")
    if reason is not None:
        fs.pipe_file(f"{target_dir}/{candidate}.reason.txt", (reason + "\n").encode("utf-8"))
    fs.rm(source)
    return candidate


def move(
    landing: StoragePath,
    name: str,
    folder: str,
    reason: str | None = None,
    *,
    fingerprint: str | None = None,
) -> str | None:
    """Move a landing file into a bookkeeping sub-folder, with its reason beside it; return the name
    it has there (never overwriting an earlier file), or None when it was not moved: it is gone, or
    it is no longer the file this run claimed (`fingerprint`), so it stays for a later run."""
    if folder not in BOOKKEEPING_FOLDERS or "/" in name or name in ("", ".", ".."):
        raise ValueError(f"cannot move {name!r} into {folder!r}")
    local = local_path(landing)
    if local is None:
        return _move_remote(landing, name, folder, reason, fingerprint)
    return _move_local(os.path.realpath(local), name, folder, reason, fingerprint)


def settle_files(landing: StoragePath, sources: Mapping[str, BlobSource], completed: Iterable[str]) -> int:
    """Move the files of completed sessions to processed/ and return how many really moved; the
    others, and any file changed since this run claimed it, stay for the next run."""
    moved = 0
    for session_id in completed:
        source = sources.get(session_id)
        if source is None or source.origin != "file":
            continue
        if move(landing, source.name, PROCESSED_FOLDER, fingerprint=source.fingerprint) is not None:
            moved += 1
    return moved
