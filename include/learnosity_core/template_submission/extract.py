"""Incremental, chunked extraction of warehouse response rows with portable SQL.

A session is sent whole, so the window selects *sessions* that changed (any of their rows has
`loaded_at`, else `updated_at`, in the window: `time_column`) and then reads every row of those
sessions, ordered by activity and learner so the streaming transform never splits a session
across chunks.

No row falls through the SQL: a row without that time, or (in SQLite, where timestamps are
text) with one that does not parse, is in every window, and a row without `activity_id` or
`user_id` belongs to no session but is still read, so the transform can quarantine it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from learnosity_core.delivery.warehouse import UNDECODABLE, Source, SourceError

if TYPE_CHECKING:
    import pandas as pd

REQUIRED_COLUMNS = ("user_id", "activity_id", "question_id", "response")


@dataclass(frozen=True)
class Window:
    """Rows changed in [start, end); None on either side means unbounded."""

    start: datetime | None = None
    end: datetime | None = None

    @classmethod
    def resolve(
        cls,
        requested_start: datetime | None,
        requested_end: datetime | None,
        last_delivered_end: datetime | None,
        run_end: datetime,
    ) -> Window:
        """The run's window: an explicit start or where the last fully delivered run ended, to an
        explicit end or the run's data interval end."""
        return cls(start=requested_start or last_delivered_end, end=requested_end or run_end)


def _bind_time(engine: Engine, value: datetime) -> Any:
    """Naive UTC; as text in SQLite's own format, where timestamps are stored as text."""
    naive = value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    return naive.strftime("%Y-%m-%d %H:%M:%S") if engine.dialect.name == "sqlite" else naive


def source_columns(engine: Engine, source: Source) -> list[str]:
    """The source's columns; fails with the missing ones named when the contract is not met."""
    with engine.connect() as conn:
        result = conn.execute(sa.text(f"SELECT * FROM {source.from_clause()} WHERE 1 = 0"))
        columns = list(result.keys())
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise SourceError(f"source {source.query or source.table!r} lacks required column(s): {missing}")
    return columns


def _filters(
    engine: Engine, columns: Sequence[str], window: Window, activity_ids: Sequence[str], alias: str
) -> tuple[list[str], dict[str, Any]]:
    """Row conditions: the activity filter, and the window on the source's `time_column`."""
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if activity_ids:
        names = [f"a{i}" for i in range(len(activity_ids))]
        clauses.append(f"{alias}.activity_id IN ({', '.join(':' + n for n in names)})")
        params.update(dict(zip(names, activity_ids, strict=True)))
    bounds: list[str] = []
    column = time_column(columns)
    if column and window.start:
        bounds.append(f"{alias}.{column} >= :window_start")
        params["window_start"] = _bind_time(engine, window.start)
    if column and window.end:
        bounds.append(f"{alias}.{column} < :window_end")
        params["window_end"] = _bind_time(engine, window.end)
    if bounds:
        # A row without a readable time belongs to no window, so every run reads it: the ledger's
        # content hash stops it from being sent twice, the transform quarantines a bad one.
        unreadable = f"{alias}.{column} IS NULL"
        if engine.dialect.name == "sqlite":
            unreadable = f"datetime({alias}.{column}) IS NULL"  # NULL too
        clauses.append(f"({unreadable} OR ({' AND '.join(bounds)}))")
    return clauses, params


def time_column(columns: Sequence[str]) -> str | None:
    """What the window is on: `loaded_at` (when the row reached the warehouse) when the source
    has it, else `updated_at`. A late load keeps its learner's `updated_at` but gets a new
    `loaded_at`, so only the latter finds rows that arrived after their window had passed."""
    for column in ("loaded_at", "updated_at"):
        if column in columns:
            return column
    return None


def _where(clauses: list[str]) -> str:
    return (" WHERE " + " AND ".join(clauses)) if clauses else ""


def changed_activities(
    engine: Engine, source: Source, window: Window, activity_ids: Sequence[str] = ()
) -> list[str]:
    """Activities with at least one changed row: each template is fetched once per run."""
    columns = source_columns(engine, source)
    clauses, params = _filters(engine, columns, window, activity_ids, "src")
    sql = f"SELECT DISTINCT src.activity_id FROM {source.from_clause()}{_where(clauses)}"
    with engine.connect() as conn:
        return sorted(str(a) for (a,) in conn.execute(sa.text(sql), params) if names_activity(a))


def names_activity(value: object) -> bool:
    """Whether an `activity_id` value names an activity: missing, blank or undecodable ones do not
    (their rows are quarantined, and no template is fetched for them)."""
    if value is None or (isinstance(value, float) and value != value):  # NULL, or NaN from pandas
        return False
    return bool(str(value).strip()) and UNDECODABLE not in str(value)


def named_templates(
    engine: Engine, source: Source, window: Window, activity_ids: Sequence[str] = ()
) -> dict[str, set[str]]:
    """The `activity_template_id` values the changed rows name, per activity, when the source has
    that optional column (empty values mean: use the template map or the activity id)."""
    columns = source_columns(engine, source)
    if "activity_template_id" not in columns:
        return {}
    clauses, params = _filters(engine, columns, window, activity_ids, "src")
    clauses.append("src.activity_template_id IS NOT NULL")
    sql = (
        f"SELECT DISTINCT src.activity_id, src.activity_template_id FROM {source.from_clause()}"
        f"{_where(clauses)}"
    )
    named: dict[str, set[str]] = {}
    with engine.connect() as conn:
        for activity, template_id in conn.execute(sa.text(sql), params):
            if activity is not None and str(template_id).strip():
                named.setdefault(str(activity), set()).add(str(template_id).strip())
    return named


def _changed_rows_sql(source: Source, clauses: list[str]) -> str:
    """Every row of the sessions with a row in the window, joined on the set of changed sessions
    (not a correlated EXISTS, which is quadratic without an index)."""
    changed = f"SELECT DISTINCT c.activity_id, c.user_id FROM {source.from_clause('c')}{_where(clauses)}"
    return (
        f"SELECT src.* FROM {source.from_clause()} JOIN ({changed}) changed"
        " ON changed.activity_id = src.activity_id AND changed.user_id = src.user_id"
    )


def _anonymous_rows_sql(source: Source, clauses: list[str]) -> str:
    """Rows in the window without an activity or a learner: part of no session, but counted."""
    where = _where([*clauses, "(c.activity_id IS NULL OR c.user_id IS NULL)"])
    return f"SELECT c.* FROM {source.from_clause('c')}{where}"


def _ordered(sql: str, columns: Sequence[str], alias: str) -> str:
    """Rows of one learner's sessions together, as the streaming transform needs them."""
    attempt = f", {alias}.attempt" if "attempt" in columns else ""
    return f"{sql} ORDER BY {alias}.activity_id, {alias}.user_id{attempt}"


class WindowCount(NamedTuple):
    """What `iter_rows` will yield: `rows` in all (the total behind the planning progress lines)
    and `sessions`, the window's distinct (activity, learner, attempt) keys: the most sessions it
    can send (some may turn out invalid or already delivered, never more)."""

    rows: int
    sessions: int


def count_window(
    engine: Engine, source: Source, window: Window, activity_ids: Sequence[str] = ()
) -> WindowCount:
    """Both counts from one pass over the changed sessions' rows (grouped by session), and the
    rows that belong to no session."""
    columns = source_columns(engine, source)
    clauses, params = _filters(engine, columns, window, activity_ids, "c")
    keys = "s.activity_id, s.user_id" + (", s.attempt" if "attempt" in columns else "")
    per_session = (
        f"SELECT {keys}, COUNT(*) AS n FROM ({_changed_rows_sql(source, clauses)}) s GROUP BY {keys}"
    )
    with engine.connect() as conn:
        sessions, rows = conn.execute(
            sa.text(f"SELECT COUNT(*), SUM(g.n) FROM ({per_session}) g"), params
        ).one()
        anonymous = conn.execute(
            sa.text(f"SELECT COUNT(*) FROM ({_anonymous_rows_sql(source, clauses)}) n"), params
        ).scalar_one()
    return WindowCount(rows=int(rows or 0) + int(anonymous), sessions=int(sessions))


def iter_rows(
    engine: Engine,
    source: Source,
    window: Window,
    activity_ids: Sequence[str] = (),
    chunksize: int = 50_000,
) -> Iterator[pd.DataFrame]:
    """Every row of every changed session, ordered by activity and learner, in bounded chunks;
    then the window's rows that have no activity or learner."""
    import pandas as pd  # here, not at import time: DAG files import this module while parsing

    columns = source_columns(engine, source)
    clauses, params = _filters(engine, columns, window, activity_ids, "c")
    for sql in (
        _ordered(_changed_rows_sql(source, clauses), columns, "src"),
        _ordered(_anonymous_rows_sql(source, clauses), columns, "c"),
    ):
        with engine.connect().execution_options(stream_results=True) as conn:
            yield from pd.read_sql_query(sa.text(sql), conn, params=params, chunksize=chunksize)


def counted_rows(
    engine: Engine,
    source: Source,
    window: Window,
    activity_ids: Sequence[str] = (),
    chunksize: int = 50_000,
) -> tuple[WindowCount, Iterator[pd.DataFrame]]:
    """`count_window` and `iter_rows` together: the count runs while the database sorts the rows
    for the first chunk (each a pass over the window: seconds at a million rows), so planning
    starts with the first chunk already read."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="count-window") as pool:
        count = pool.submit(count_window, engine, source, window, activity_ids)
        chunks = iter_rows(engine, source, window, activity_ids, chunksize)
        first = list(itertools.islice(chunks, 1))
        counted = count.result()
    return counted, itertools.chain(first, chunks)
