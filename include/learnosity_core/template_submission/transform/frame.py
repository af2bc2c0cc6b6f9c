"""One frame of warehouse rows to whole session entries plus a quarantine, column-wise.

Order of decisions for a row (the first that applies is its reason): invalid_encoding, missing_field,
invalid_session_id, invalid_timestamp; then duplicates are settled (superseded rows stay part of
their session, ties that differ are duplicate_conflict); then unknown_activity, unknown_question,
type_conflict and the value rules. A session id owned by another learner or activity makes every
row of the session session_id_conflict. Finally any session with a quarantined row is held back
whole: its other rows are quarantined as session_held_back, naming the row that caused it.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from learnosity_core.content.responses import UNKNOWN_QUESTION
from learnosity_core.delivery.warehouse import UNDECODABLE
from learnosity_core.template_submission.transform import reasons
from learnosity_core.template_submission.transform.columns import (
    codes,
    combine,
    concat,
    json_strings,
    present,
    text_column,
    valid,
)
from learnosity_core.template_submission.transform.index import TemplateIndex
from learnosity_core.template_submission.transform.session_ids import derive_session_id, is_session_id
from learnosity_core.template_submission.transform.text import utf8_bytes
from learnosity_core.template_submission.transform.values import build_responses

REQUIRED_COLUMNS: Final = ("user_id", "activity_id", "question_id", "response")
SESSION_COLUMNS: Final = [
    "activity_id",
    "user_id",
    "session_id",
    "session_json",
    "content_hash",
    "row_count",
    "max_updated_at",
]
QUARANTINE_COLUMNS: Final = [
    "row_id",
    "activity_id",
    "user_id",
    "session_id",
    "question_id",
    "reason",
    "message",
]
WARNING_COLUMNS: Final = ["activity_id", "code", "count"]
_NAT: Final = np.iinfo(np.int64).min  # NaT as int64: older than any timestamp, so it loses every tie-break


class SourceContractError(ValueError):
    """The rows lack a column the source contract requires (a setup error, not a data error)."""


@dataclass(frozen=True)
class TransformResult:
    """Sessions ready to send (one `data[]` entry each), every row held back with its reason, and
    per activity how many sent responses carry each warning code (`reasons.WARNINGS`; one row per
    activity and code that occurs, WARNING_COLUMNS, sorted by both)."""

    sessions: pd.DataFrame
    quarantine: pd.DataFrame
    warnings: pd.DataFrame


OwnerLookup = Callable[[Sequence[str]], Mapping[str, tuple[str, str]]]


class SessionIdClaims:
    """Which learner and activity each given session id belongs to.

    Two learners (or activities) with the same session id would overwrite each other's session;
    the owner keeps it: whoever the delivery ledger already knows (`known_owners`, asked once
    per id), else the first to appear in the run. Only given ids are remembered (derived ones
    cannot collide).
    """

    def __init__(self, known_owners: OwnerLookup | None = None) -> None:
        self._owners: dict[str, tuple[str, str]] = {}
        self._known_owners = known_owners

    def learn(self, session_ids: Sequence[str]) -> None:
        """Take the owners of ids not seen yet from `known_owners`, in one lookup."""
        if self._known_owners is None:
            return
        unseen = [sid for sid in dict.fromkeys(session_ids) if sid not in self._owners]
        if unseen:
            self._owners.update(self._known_owners(unseen))

    def claim(self, session_id: str, activity_id: str, user_id: str) -> tuple[str, str] | None:
        """None when the id is (now) theirs, else the (activity_id, user_id) that owns it."""
        owner = self._owners.setdefault(session_id, (activity_id, user_id))
        return None if owner == (activity_id, user_id) else owner


@dataclass
class _Rows:
    """The source columns of one frame, as Arrow text (null = absent) and NumPy."""

    row_id: npt.NDArray[Any]
    activity: pa.Array
    user: pa.Array
    question: pa.Array
    response: pa.Array
    boxes: pa.Array | None
    declared_type: pa.Array | None
    given_session: pa.Array | None
    attempt: pa.Array | None
    updated_at: npt.NDArray[np.int64]  # microseconds since the epoch, UTC; _NAT when absent
    # (column, rows whose value does not parse, the raw column) for updated_at and loaded_at
    bad_timestamp: list[tuple[str, npt.NDArray[np.bool_], pd.Series | None]]

    def __len__(self) -> int:
        return len(self.row_id)


def _optional(df: pd.DataFrame, column: str) -> pa.Array | None:
    return text_column(df[column], empty_is_null=True) if column in df.columns else None


def _timestamps(
    df: pd.DataFrame, column: str = "updated_at"
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    if column not in df.columns:
        return np.full(len(df), _NAT, dtype=np.int64), np.zeros(len(df), dtype=np.bool_)
    raw = df[column]
    parsed = pd.to_datetime(raw, utc=True, errors="coerce", format="ISO8601")
    present = raw.notna().to_numpy() & ~raw.isin([""]).to_numpy()
    bad = present & parsed.isna().to_numpy()
    micros = parsed.dt.tz_localize(None).dt.as_unit("us").to_numpy().view(np.int64)
    return micros, bad


def _read(df: pd.DataFrame) -> _Rows:
    """The frame's columns; rows are numbered 1, 2, ... unless a `row_id` column names them."""
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise SourceContractError(f"response rows lack required column(s): {missing}")
    updated_at, bad_updated = _timestamps(df)
    bad_loaded = _timestamps(df, "loaded_at")[1]
    return _Rows(
        row_id=(
            df["row_id"].to_numpy() if "row_id" in df.columns else np.arange(1, len(df) + 1, dtype=np.int64)
        ),
        activity=text_column(df["activity_id"], empty_is_null=True),
        user=text_column(df["user_id"], empty_is_null=True),
        question=text_column(df["question_id"], empty_is_null=True),
        response=text_column(df["response"]),
        boxes=_optional(df, "response_boxes"),
        declared_type=_optional(df, "question_type"),
        given_session=_optional(df, "session_id"),
        attempt=_optional(df, "attempt"),
        updated_at=updated_at,
        bad_timestamp=[
            ("updated_at", bad_updated, df.get("updated_at")),
            ("loaded_at", bad_loaded, df.get("loaded_at")),
        ],
    )


class _Verdicts:
    """Each row's own reason and detail; the first rule that flags a row wins."""

    def __init__(self, size: int) -> None:
        self.flagged = np.zeros(size, dtype=np.bool_)
        self.reason = np.full(size, None, dtype=object)
        self.detail = np.full(size, None, dtype=object)

    def flag(
        self,
        positions: npt.NDArray[np.int64],
        reason: str | list[str],
        detail: str | list[str] | npt.NDArray[np.object_],
    ) -> None:
        """Flag rows not flagged yet; a sequence gives each position its own reason or detail."""
        fresh = ~self.flagged[positions]
        chosen = positions[fresh]
        self.flagged[chosen] = True
        self.reason[chosen] = reason if isinstance(reason, str) else np.asarray(reason, dtype=object)[fresh]
        self.detail[chosen] = detail if isinstance(detail, str) else np.asarray(detail, dtype=object)[fresh]


def _values(array: pa.Array, positions: npt.NDArray[np.int64]) -> list[Any]:
    return array.take(positions).to_pylist()


def _session_ids(rows: _Rows, verdicts: _Verdicts) -> tuple[pa.Array, npt.NDArray[np.bool_]]:
    """Every row's session id (the given one, else derived; null without activity or learner) and
    whether it is a given, valid one (the ids `SessionIdClaims` keeps track of)."""
    size = len(rows)
    given = rows.given_session if rows.given_session is not None else pa.nulls(size, pa.large_string())
    has_given = valid(given)
    distinct = pc.dictionary_encode(given)
    # One check per distinct id; nulls (index -1) pick the trailing True, so they are not flagged.
    is_uuid = np.array([*map(is_session_id, distinct.dictionary.to_pylist()), True], dtype=np.bool_)
    given_uuid = is_uuid[pc.fill_null(distinct.indices, -1).to_numpy(zero_copy_only=False)]
    not_uuid = np.flatnonzero(~given_uuid)
    verdicts.flag(
        not_uuid,
        reasons.INVALID_SESSION_ID,
        [f"session_id: {v!r} is not a UUID" for v in _values(given, not_uuid)],
    )

    derivable = np.flatnonzero(~has_given & valid(rows.activity) & valid(rows.user))
    derived = pa.nulls(size, pa.large_string())
    if len(derivable):
        attempt = rows.attempt if rows.attempt is not None else pa.nulls(size, pa.large_string())
        parts = [a.take(derivable) for a in (rows.activity, rows.user, attempt)]
        learner = combine(*(codes(p) for p in parts))
        first = np.unique(learner, return_index=True)[1]
        names = zip(*(p.take(first).to_pylist() for p in parts), strict=True)
        ids = pa.array([derive_session_id(a, u, t) for a, u, t in names], type=pa.large_string())
        slots = np.full(size, -1, dtype=np.int64)
        slots[derivable] = learner
        derived = ids.take(pa.array(slots, mask=slots < 0))
    claimable = has_given & given_uuid & valid(rows.activity) & valid(rows.user)
    return pc.if_else(pa.array(has_given), given, derived), claimable


def _claim_session_ids(
    rows: _Rows,
    session_id: pa.Array,
    claimable: npt.NDArray[np.bool_],
    session: npt.NDArray[np.int64],
    claims: SessionIdClaims,
    verdicts: _Verdicts,
) -> None:
    """Sessions whose given id already belongs to someone else: every row is a session_id_conflict.

    Claims follow input order, so chunked and whole-frame runs agree on who keeps an id.
    """
    firsts = np.unique(session, return_index=True)[1]
    firsts = np.sort(firsts[claimable[firsts]])
    taken: list[int] = []
    details: dict[int, str] = {}
    given = _values(session_id, firsts)
    claims.learn(given)
    for position, sid, activity, user in zip(
        firsts.tolist(),
        given,
        _values(rows.activity, firsts),
        _values(rows.user, firsts),
        strict=True,
    ):
        owner = claims.claim(sid, activity, user)
        if owner is not None:
            taken.append(int(session[position]))
            details[int(session[position])] = (
                f"session_id: {sid!r} already belongs to user {owner[1]} in activity {owner[0]}"
            )
    if taken:
        positions = np.flatnonzero(np.isin(session, taken))
        verdicts.flag(positions, reasons.SESSION_ID_CONFLICT, [details[int(s)] for s in session[positions]])


def _settle_duplicates(
    rows: _Rows, session: npt.NDArray[np.int64], verdicts: _Verdicts
) -> npt.NDArray[np.bool_]:
    """Rows that lost to a later row for the same session and question (they stay in their session).

    The latest updated_at wins (absent is oldest); rows tied at the latest with different values
    are all duplicate_conflict; identical ties keep the first row.
    """
    superseded = np.zeros(len(rows), dtype=np.bool_)
    candidates = np.flatnonzero(~verdicts.flagged)
    key = combine(session[candidates], codes(rows.question.take(candidates)))
    repeated = pd.Series(key).duplicated(keep=False).to_numpy()
    if not repeated.any():
        return superseded
    positions = candidates[repeated]
    content = [codes(rows.response.take(positions))]
    content += [codes(c.take(positions)) for c in (rows.boxes, rows.declared_type) if c is not None]
    dups = pd.DataFrame(
        {"pos": positions, "key": key[repeated], "ts": rows.updated_at[positions], "value": combine(*content)}
    )
    tied = dups[dups["ts"] == dups.groupby("key")["ts"].transform("max")]
    differing = tied.groupby("key")["value"].transform("nunique") > 1
    winners = tied[~differing].groupby("key")["pos"].min().to_numpy()
    conflicts = tied[differing]
    superseded[positions] = True
    superseded[winners] = False
    superseded[conflicts["pos"].to_numpy()] = False
    if len(conflicts):
        others = conflicts.groupby("key")["pos"].agg(list)
        details = [
            f"response: rows {', '.join(str(rows.row_id[p]) for p in others[k])} share the latest updated_at"
            " but have different values"
            for k in conflicts["key"]
        ]
        verdicts.flag(conflicts["pos"].to_numpy(), reasons.DUPLICATE_CONFLICT, details)
    return superseded


def _check_questions(
    rows: _Rows, index: TemplateIndex, candidates: npt.NDArray[np.int64], verdicts: _Verdicts
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Template membership and declared type; returns the still-fine rows and their quids."""
    activity = rows.activity.take(candidates)
    question = rows.question.take(candidates)
    known, quid = index.locate(activity, question)
    lost = np.flatnonzero(~known)
    verdicts.flag(
        candidates[lost],
        reasons.UNKNOWN_ACTIVITY,
        [f"activity_id: no template for activity {a!r}" for a in _values(activity, lost)],
    )
    absent = np.flatnonzero(known & (quid < 0))
    verdicts.flag(
        candidates[absent],
        UNKNOWN_QUESTION,
        [
            f"question_id: {q!r} is not in the template of activity {a!r}"
            for q, a in zip(_values(question, absent), _values(activity, absent), strict=True)
        ],
    )
    located = np.flatnonzero(quid >= 0)
    candidates, quid = candidates[located], quid[located]
    if rows.declared_type is not None:
        declared = rows.declared_type.take(candidates)
        expected = index.types.take(quid)
        clash = np.flatnonzero(
            pc.fill_null(pc.not_equal(declared, expected), False).to_numpy(zero_copy_only=False)
        )
        verdicts.flag(
            candidates[clash],
            reasons.TYPE_CONFLICT,
            [
                f"question_type: {d!r}, but the template says {e!r}"
                for d, e in zip(_values(declared, clash), _values(expected, clash), strict=True)
            ],
        )
        fine = np.ones(len(candidates), dtype=np.bool_)
        fine[clash] = False
        candidates, quid = candidates[fine], quid[fine]
    return candidates, quid


def _held_back(
    rows: _Rows, session: npt.NDArray[np.int64], verdicts: _Verdicts, sessions: int
) -> npt.NDArray[np.bool_]:
    """Hold back every session with a flagged row; its unflagged rows name the row that caused it."""
    flagged = np.flatnonzero(verdicts.flagged)
    bad = np.zeros(sessions, dtype=np.bool_)
    bad[session[flagged]] = True
    quarantined = bad[session]
    cause = np.full(sessions, len(rows), dtype=np.int64)
    np.minimum.at(cause, session[flagged], flagged)
    causes = np.bincount(session[flagged], minlength=sessions)
    innocent = np.flatnonzero(quarantined & ~verdicts.flagged)
    held = np.unique(session[innocent])  # one detail per session, shared by its innocent rows
    details = [
        f"held back with its session: row {rows.row_id[first]} has {verdicts.reason[first]}"
        + (f" (and {count - 1} more)" if count > 1 else "")
        for first, count in zip(cause[held].tolist(), causes[held].tolist(), strict=True)
    ]
    slot = np.searchsorted(held, session[innocent])
    verdicts.flag(innocent, reasons.SESSION_HELD_BACK, np.array(details, dtype=object)[slot])
    return quarantined


def _row_texts(row_ids: npt.NDArray[Any]) -> pa.Array:
    """Row ids as the messages show them (`str` of each)."""
    if np.issubdtype(row_ids.dtype, np.integer):
        return pa.array(row_ids).cast(pa.large_string())
    return pa.array([str(r) for r in row_ids], type=pa.large_string())


def _quarantine(
    rows: _Rows, session_id: pa.Array, positions: npt.NDArray[np.int64], verdicts: _Verdicts
) -> pd.DataFrame:
    """Quarantine rows with messages like "row 17 (user u1, activity a1, question q3): <detail>"."""
    at = pa.array(positions, type=pa.int64())
    activity, user, question = (a.take(at) for a in (rows.activity, rows.user, rows.question))
    missing = pa.scalar("<missing>", pa.large_string())
    messages = concat(
        "row ",
        _row_texts(rows.row_id[positions]),
        " (user ",
        pc.fill_null(user, missing),
        ", activity ",
        pc.fill_null(activity, missing),
        ", question ",
        pc.fill_null(question, missing),
        "): ",
        pa.array(verdicts.detail[positions], type=pa.large_string()),
    )
    return pd.DataFrame(
        {
            "row_id": rows.row_id[positions],
            "activity_id": pd.Series(activity.to_pandas(), dtype="str"),
            "user_id": pd.Series(user.to_pandas(), dtype="str"),
            "session_id": pd.Series(session_id.take(at).to_pandas(), dtype="str"),
            "question_id": pd.Series(question.to_pandas(), dtype="str"),
            "reason": pd.Series(verdicts.reason[positions], dtype="str"),
            "message": pd.Series(messages.to_pandas(), dtype="str"),
        },
        columns=QUARANTINE_COLUMNS,
    )


def _sha256(entries: pa.Array) -> list[str]:
    """Hex SHA-256 of each entry's UTF-8 bytes, read straight from the Arrow buffer."""
    offsets, data = utf8_bytes(entries)
    view = data.data
    return [hashlib.sha256(view[a:b]).hexdigest() for a, b in itertools.pairwise(offsets.tolist())]


def _sessions(
    rows: _Rows,
    index: TemplateIndex,
    session_id: pa.Array,
    session: npt.NDArray[np.int64],
    quarantined: npt.NDArray[np.bool_],
    emitted: npt.NDArray[np.int64],
    quid: npt.NDArray[np.int64],
    fragments: pa.Array,
) -> pd.DataFrame:
    """One entry per session with no quarantined row, in order of first appearance."""
    sessions = int(session.max()) + 1
    firsts = np.unique(session, return_index=True)[1]
    good = np.sort(firsts[~quarantined[firsts]])
    rank = np.full(sessions, -1, dtype=np.int64)
    rank[session[good]] = np.arange(len(good))

    keep = ~quarantined[emitted]
    emitted, quid, fragments = emitted[keep], quid[keep], fragments.filter(pa.array(keep))
    order = np.lexsort((index.position[quid], rank[session[emitted]]))
    per_session = np.bincount(rank[session[emitted]], minlength=len(good))
    offsets = np.concatenate(([0], np.cumsum(per_session))).astype(np.int64)
    joined = pc.binary_join(
        pa.LargeListArray.from_arrays(pa.array(offsets), fragments.take(order)),
        pa.scalar(",", pa.large_string()),
    )

    activity, user, sid = (a.take(good) for a in (rows.activity, rows.user, session_id))
    entries = concat(
        '{"user_id":',
        json_strings(user),
        ',"activity_id":',
        json_strings(activity),
        ',"session_id":',
        json_strings(sid),
        ',"responses":[',
        joined,
        "]}",
    )
    latest = np.full(sessions, _NAT, dtype=np.int64)
    np.maximum.at(latest, session, rows.updated_at)
    return pd.DataFrame(
        {
            "activity_id": activity.to_pandas(),
            "user_id": user.to_pandas(),
            "session_id": sid.to_pandas(),
            "session_json": entries.to_pandas(),
            "content_hash": pd.Series(_sha256(entries), dtype="str"),
            "row_count": np.bincount(session, minlength=sessions)[session[good]],
            "max_updated_at": pd.Series(latest[session[good]].view("datetime64[us]")).dt.tz_localize("UTC"),
        },
        columns=SESSION_COLUMNS,
    )


def _warnings(
    rows: _Rows, warned: list[tuple[npt.NDArray[np.int64], str]], quarantined: npt.NDArray[np.bool_]
) -> pd.DataFrame:
    """Warning counts per activity over the rows that are sent (`warned` holds row positions)."""
    counts = []
    for positions, code in warned:
        sent = positions[~quarantined[positions]]
        if len(sent):
            tally = pc.value_counts(rows.activity.take(sent))
            counts.append(
                pd.DataFrame(
                    {
                        "activity_id": tally.field("values").to_pandas(),
                        "code": code,
                        "count": tally.field("counts").to_numpy().astype(np.int64),
                    }
                )
            )
    if not counts:
        return _no_warnings()
    table = pd.concat(counts).groupby(["activity_id", "code"], as_index=False)["count"].sum()
    return table.astype({"activity_id": "str", "code": "str"})[WARNING_COLUMNS]


def _no_warnings() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series([], dtype="str") for c in WARNING_COLUMNS[:2]})
    frame["count"] = pd.Series([], dtype=np.int64)
    return frame


def _flag_undecodable(rows: _Rows, verdicts: _Verdicts) -> None:
    """Rows with a value the warehouse could not decode (`warehouse.UNDECODABLE`), column named."""
    for name, column in (
        ("activity_id", rows.activity),
        ("user_id", rows.user),
        ("question_id", rows.question),
        ("session_id", rows.given_session),
        ("attempt", rows.attempt),
        ("question_type", rows.declared_type),
        ("response", rows.response),
        ("response_boxes", rows.boxes),
    ):
        if column is not None:
            damaged = pc.fill_null(pc.match_substring(column, UNDECODABLE), False)
            verdicts.flag(
                np.flatnonzero(damaged.to_numpy(zero_copy_only=False)),
                reasons.INVALID_ENCODING,
                f"{name}: not valid UTF-8 in the warehouse (bad bytes read as U+FFFD)",
            )


def transform_frame(df: pd.DataFrame, index: TemplateIndex, claims: SessionIdClaims) -> TransformResult:
    """Sessions and quarantine for a frame that holds all rows of each of its learners' sessions."""
    rows = _read(df)
    if len(rows) == 0:
        return _empty_result(rows.row_id.dtype)
    verdicts = _Verdicts(len(rows))
    _flag_undecodable(rows, verdicts)
    for name, column in (
        ("activity_id", rows.activity),
        ("user_id", rows.user),
        ("question_id", rows.question),
    ):
        verdicts.flag(np.flatnonzero(~present(column)), reasons.MISSING_FIELD, f"{name}: missing or blank")
    session_id, claimable = _session_ids(rows, verdicts)
    for column, bad, raw_column in rows.bad_timestamp:
        bad_time = np.flatnonzero(bad)
        if len(bad_time):
            assert raw_column is not None
            raw = raw_column.iloc[bad_time].tolist()
            verdicts.flag(
                bad_time, reasons.INVALID_TIMESTAMP, [f"{column}: {v!r} is not a timestamp" for v in raw]
            )
    session = combine(codes(rows.activity), codes(rows.user), codes(session_id))
    _claim_session_ids(rows, session_id, claimable, session, claims, verdicts)
    superseded = _settle_duplicates(rows, session, verdicts)

    candidates, quid = _check_questions(
        rows, index, np.flatnonzero(~verdicts.flagged & ~superseded), verdicts
    )
    built = build_responses(index, quid, candidates, rows.response, rows.boxes)
    verdicts.flag(
        candidates[np.array(built.problem_positions, dtype=np.int64)],
        [reason for reason, _ in built.problems],
        [detail for _, detail in built.problems],
    )
    built_at = np.concatenate([*built.positions, np.zeros(0, dtype=np.int64)])
    fragments = pa.concat_arrays(built.fragments) if built.fragments else pa.array([], type=pa.large_string())

    quarantined = _held_back(rows, session, verdicts, int(session.max()) + 1)
    return TransformResult(
        sessions=_sessions(
            rows, index, session_id, session, quarantined, candidates[built_at], quid[built_at], fragments
        ),
        quarantine=_quarantine(rows, session_id, np.flatnonzero(quarantined), verdicts),
        warnings=_warnings(rows, [(candidates[p], code) for p, code in built.warnings], quarantined),
    )


def _empty_result(row_id_dtype: Any) -> TransformResult:
    sessions = pd.DataFrame({c: pd.Series([], dtype="str") for c in SESSION_COLUMNS[:5]})
    sessions["row_count"] = pd.Series([], dtype=np.int64)
    sessions["max_updated_at"] = pd.Series([], dtype="datetime64[us, UTC]")
    quarantine = pd.DataFrame({c: pd.Series([], dtype="str") for c in QUARANTINE_COLUMNS})
    quarantine["row_id"] = pd.Series([], dtype=row_id_dtype)
    return TransformResult(sessions=sessions, quarantine=quarantine, warnings=_no_warnings())


def transform_responses(
    df: pd.DataFrame, index: TemplateIndex, claims: SessionIdClaims | None = None
) -> TransformResult:
    """Every row of `df` ends up in exactly one sent session (`row_count`) or in the quarantine."""
    return transform_frame(df, index, claims or SessionIdClaims())
