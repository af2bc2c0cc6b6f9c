"""The delivery ledger: what was sent for each session, in which batch and job, and how it ended.

It is what makes runs exactly-once from the user's point of view: a session whose same content
already completed is never sent again, changed content is, and a batch that already has a job
reference is never posted twice by a retried task. It lives in any SQLAlchemy database
(SQLite by default, PostgreSQL in a cluster) so every worker sees the same state.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Engine

from learnosity_core.delivery import ledger_schema


class SessionStatus(enum.StrEnum):
    STAGED = "staged"
    SUBMITTED = "submitted"
    COMPLETED = "completed"
    FAILED = "failed"
    QUARANTINED = "quarantined"
    # Refused by the Data API for a reason no retry can fix (its message is the error): it does
    # not hold the window back and is sent again only when its content changes.
    REJECTED = "rejected"


# A session in one of these states with the same content is not sent again.
SETTLED_CONTENT: frozenset[SessionStatus] = frozenset({SessionStatus.COMPLETED, SessionStatus.REJECTED})


metadata = sa.MetaData()

sessions_table = sa.Table(
    "learnosity_ledger_sessions",
    metadata,
    sa.Column("session_id", sa.String(64), primary_key=True),
    sa.Column("data_format", sa.String(32), nullable=False),
    sa.Column("activity_id", sa.String(255)),
    sa.Column("user_id", sa.String(255)),
    sa.Column("content_hash", sa.String(64)),
    sa.Column("batch_id", sa.String(255), index=True),
    sa.Column("job_reference", sa.String(64), index=True),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("error", sa.Text),
    sa.Column("verified", sa.Boolean),
    sa.Column("dag_id", sa.String(255)),  # with run_id, the Airflow run (run ids are unique per DAG)
    sa.Column("run_id", sa.String(255), index=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

batches_table = sa.Table(
    "learnosity_ledger_batches",
    metadata,
    sa.Column("batch_id", sa.String(255), primary_key=True),
    sa.Column("dag_id", sa.String(255)),
    sa.Column("run_id", sa.String(255), index=True, nullable=False),
    sa.Column("activity_id", sa.String(255)),
    sa.Column("session_count", sa.Integer, nullable=False),
    sa.Column("job_reference", sa.String(64)),
    sa.Column("job_status", sa.String(16)),
    sa.Column("submitted_at", sa.DateTime(timezone=True)),
)

runs_table = sa.Table(
    "learnosity_ledger_runs",
    metadata,
    sa.Column("dag_id", sa.String(255), primary_key=True),
    sa.Column("run_id", sa.String(255), primary_key=True),
    sa.Column("window_start", sa.DateTime(timezone=True)),
    sa.Column("window_end", sa.DateTime(timezone=True)),
    sa.Column("finished", sa.Boolean, nullable=False, default=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

leases_table = sa.Table(
    "learnosity_ledger_leases",
    metadata,
    sa.Column("resource", sa.String(1024), primary_key=True),
    sa.Column("holder", sa.String(255), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)

# Append-only: one row each time a session's delivery state changes (staged, quarantined,
# submitted, completed, failed, rejected, verified), written in the same transaction as the
# change. `learnosity_ledger_sessions` is the latest state; this is what happened, so support can
# answer "what did Learnosity receive for this learner, when, in which job?".
history_table = sa.Table(
    "learnosity_ledger_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("session_id", sa.String(64), nullable=False, index=True),
    sa.Column("user_id", sa.String(255), index=True),
    sa.Column("activity_id", sa.String(255)),
    sa.Column("content_hash", sa.String(64)),
    sa.Column("dag_id", sa.String(255)),
    sa.Column("run_id", sa.String(255)),
    sa.Column("batch_id", sa.String(255)),
    sa.Column("job_reference", sa.String(64)),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("verified", sa.Boolean),
    sa.Column("error", sa.Text),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
)
_HISTORY_FROM_SESSIONS = [
    "session_id",
    "user_id",
    "activity_id",
    "content_hash",
    "dag_id",
    "run_id",
    "batch_id",
    "job_reference",
    "status",
    "verified",
    "error",
]

_CHUNK = 500  # keeps IN (...) lists well under every database's bound-parameter limit


_IDLE_SINCE = "learnosity_idle_since"
PING_AFTER_IDLE_S = 30.0


def _sqlite_wal(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA journal_mode=WAL")


def ping_when_idle(engine: Engine, idle_s: float = PING_AFTER_IDLE_S) -> None:
    """Check a pooled connection before use only when it sat idle longer than `idle_s`: one a
    server restart or an idle timeout may have closed is replaced, without the round trip that
    pinging at every checkout costs each of a sender's several ledger calls per batch."""

    @sa.event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _alive(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is None or time.monotonic() - since <= idle_s:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)  # the dialect's own "SELECT 1"
            dbapi_connection.rollback()
        except Exception as exc:  # the pool replaces the connection and checks out another
            raise sa.exc.DisconnectionError(f"pooled connection dead after {idle_s:.0f} s idle") from exc


def _now() -> datetime:
    return datetime.now(UTC)


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass(frozen=True)
class SessionEntry:
    """One session about to be staged: its identity and the hash of the content to send."""

    session_id: str
    content_hash: str
    activity_id: str | None = None
    user_id: str | None = None


@dataclass(frozen=True)
class SessionOutcome:
    """What a finished job said about one session."""

    session_id: str
    status: SessionStatus
    error: str | None = None


class SessionRow(BaseModel):
    """One session's delivery record as the ledger holds it (what reports and verification read)."""

    model_config = ConfigDict(frozen=True)

    session_id: str
    data_format: str
    activity_id: str | None = None
    user_id: str | None = None
    content_hash: str | None = None
    batch_id: str | None = None
    job_reference: str | None = None
    status: SessionStatus
    error: str | None = None
    verified: bool | None = None
    dag_id: str | None = None
    run_id: str | None = None
    created_at: datetime
    updated_at: datetime


class HistoryRow(BaseModel):
    """One change of one session's delivery state, as the history keeps it."""

    model_config = ConfigDict(frozen=True)

    session_id: str
    user_id: str | None = None
    activity_id: str | None = None
    content_hash: str | None = None
    dag_id: str | None = None
    run_id: str | None = None
    batch_id: str | None = None
    job_reference: str | None = None
    status: SessionStatus
    verified: bool | None = None
    error: str | None = None
    recorded_at: datetime


def of_run(table: sa.Table, dag_id: str, run_id: str) -> tuple[sa.ColumnElement[bool], ...]:
    """The rows of one Airflow run: its id is unique only within its DAG."""
    return (table.c.dag_id == dag_id, table.c.run_id == run_id)


def _remember(conn: sa.Connection, where: sa.ColumnElement[bool]) -> None:
    """Append the current state of the sessions matching `where` to the history (set-based)."""
    columns = [sessions_table.c[name] for name in _HISTORY_FROM_SESSIONS]
    conn.execute(
        sa.insert(history_table).from_select(
            [*_HISTORY_FROM_SESSIONS, "recorded_at"],
            sa.select(*columns, sessions_table.c.updated_at).where(where),
        )
    )


@dataclass(frozen=True, slots=True)
class JobSessions:
    """The sessions one job carried (in the ledger's order) and those no answer settled yet."""

    session_ids: list[str]
    unsettled: set[str]


@dataclass(frozen=True, slots=True)
class PostedBatch:
    """A batch of a run already posted whole: its job, its sessions, and whether any of them still
    waits for the job's answer."""

    batch_id: str
    job_reference: str
    sessions: int
    awaits_outcome: bool


@dataclass(frozen=True, slots=True)
class Standing:
    """Where a session stands before a run sends it: `status` is COMPLETED or REJECTED when it
    settled (None: never did), `same_content` whether that settled content is the content now."""

    status: SessionStatus | None
    same_content: bool


NEVER_SETTLED = Standing(None, False)
DELIVERED = Standing(SessionStatus.COMPLETED, True)
_STATUSES = {s.value: s for s in SessionStatus}


def _standing_query(settled: list[str]) -> sa.Select[Any]:
    """PostgreSQL: each (id, hash) pair of two arrays probes the primary key through a LATERAL
    subquery (a large IN list, `= ANY(array)` or a plain join may scan the whole table instead),
    and only the pairs not completed with the same content come back."""
    wanted = (
        sa.func.unnest(
            sa.bindparam("ids", type_=postgresql.ARRAY(sa.Text)),
            sa.bindparam("hashes", type_=postgresql.ARRAY(sa.Text)),
        )
        .table_valued("session_id", "content_hash")
        .render_derived()
    )
    probe = (
        sa.select(sessions_table.c.status, sessions_table.c.content_hash)
        .where(sessions_table.c.session_id == wanted.c.session_id, sessions_table.c.status.in_(settled))
        .limit(1)
        .lateral()
    )
    same = probe.c.content_hash == wanted.c.content_hash
    return (
        sa.select(wanted.c.session_id, probe.c.status, sa.func.coalesce(same, False))
        .select_from(wanted)
        .outerjoin(probe, sa.true())
        .where(
            sa.or_(
                probe.c.status.is_(None),
                probe.c.status != SessionStatus.COMPLETED.value,
                sa.not_(sa.func.coalesce(same, False)),
            )
        )
    )


class Ledger:
    """Per-session delivery state in a SQL database shared by every worker, and its history."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        # PostgreSQL looks ids up as one array per 10,000 (an index probe each); SQLite as IN (...)
        # lists of 500, under its bound-parameter limit.
        self._by_array = engine.dialect.name == "postgresql"
        self._lookup_chunk = 10_000 if self._by_array else _CHUNK
        ledger_schema.upgrade(engine)

    @property
    def engine(self) -> Engine:
        """The ledger's database, for read-only summaries kept in their own modules (run_progress)."""
        return self._engine

    def revision(self) -> str | None:
        """The schema revision the ledger is at (`ledger_schema`)."""
        return ledger_schema.current(self._engine)

    @classmethod
    def from_url(cls, url: str) -> Ledger:
        """SQLite ledgers wait for each other's writes (several submit tasks share one file)."""
        if url.startswith("sqlite"):
            engine = sa.create_engine(url, connect_args={"timeout": 60})
            sa.event.listen(engine, "connect", _sqlite_wal)
            return cls(engine)
        engine = sa.create_engine(url)
        ping_when_idle(engine)
        return cls(engine)

    # -- what still needs sending -------------------------------------------------------------

    def _sessions_by_id(
        self,
        columns: Sequence[sa.ColumnElement[Any]],
        session_ids: Iterable[str],
        *where: sa.ColumnElement[bool],
    ) -> Iterator[Any]:
        """The id and `columns` of the sessions among `session_ids` that match `where`, in chunks.

        On PostgreSQL each id of a chunk (one array) probes the primary key through a LATERAL
        subquery: given a large IN list, `= ANY(array)` or a plain join, the planner may scan the
        whole table for every chunk instead (10x slower at a million sessions).
        """
        with self._engine.connect() as conn:
            for part in _chunks(list(session_ids), self._lookup_chunk):
                if self._by_array:
                    wanted = (
                        sa.func.unnest(sa.bindparam("ids", sorted(part), type_=postgresql.ARRAY(sa.Text)))
                        .table_valued("session_id")
                        .render_derived()
                    )
                    probe = (
                        sa.select(sessions_table.c.session_id, *columns)
                        .where(sessions_table.c.session_id == wanted.c.session_id, *where)
                        .limit(1)
                        .lateral()
                    )
                    query = sa.select(*probe.c).select_from(wanted).join(probe, sa.true())
                else:
                    query = sa.select(sessions_table.c.session_id, *columns).where(
                        sessions_table.c.session_id.in_(part), *where
                    )
                yield from conn.execute(query)

    def delivered(self, pairs: Iterable[tuple[str, str]]) -> set[str]:
        """Session ids whose given content hash already completed."""
        wanted = dict(pairs)
        rows = self._sessions_by_id(
            [sessions_table.c.content_hash], wanted, sessions_table.c.status == SessionStatus.COMPLETED
        )
        return {sid for sid, digest in rows if wanted.get(sid) == digest}

    def standing(self, contents: Mapping[str, str]) -> dict[str, Standing]:
        """session id -> its `Standing`, for each session of `contents` (id -> content hash) that
        did not complete with that content. The sessions left out completed with exactly it: at
        season scale that is nearly all of them, so on PostgreSQL the comparison runs in the
        database and only the few sessions to send (or already rejected) come back."""
        answer: dict[str, Standing] = {}
        for sid, status, same in self._compare(contents):
            if status != SessionStatus.COMPLETED or not same:
                answer[sid] = Standing(_STATUSES[status] if status else None, bool(same))
        return answer

    def _compare(self, contents: Mapping[str, str]) -> Iterator[tuple[str, str | None, bool]]:
        """(id, settled status or None, same content) per session; PostgreSQL returns only the
        ids not completed with the same content, SQLite every id."""
        settled = [s.value for s in SETTLED_CONTENT]
        if not self._by_array:
            found = {
                sid: (status, digest == contents[sid])
                for sid, status, digest in self._sessions_by_id(
                    [sessions_table.c.status, sessions_table.c.content_hash],
                    contents,
                    sessions_table.c.status.in_(settled),
                )
            }
            yield from ((sid, *found.get(sid, (None, False))) for sid in contents)
            return
        with self._engine.connect() as conn:
            for part in _chunks(sorted(contents), self._lookup_chunk):
                hashes = [contents[sid] for sid in part]
                yield from conn.execute(_standing_query(settled), {"ids": part, "hashes": hashes}).tuples()

    def owners(self, session_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """session id -> (activity_id, user_id) of the sessions the ledger knows whose they are."""
        rows = self._sessions_by_id(
            [sessions_table.c.activity_id, sessions_table.c.user_id],
            session_ids,
            sessions_table.c.activity_id.is_not(None),
            sessions_table.c.user_id.is_not(None),
        )
        return {sid: (activity, user) for sid, activity, user in rows}

    def last_window_end(self, dag_id: str) -> datetime | None:
        """Where the previous finished run's window ended: the next incremental window starts there."""
        with self._engine.connect() as conn:
            value = conn.execute(
                sa.select(sa.func.max(runs_table.c.window_end)).where(
                    runs_table.c.dag_id == dag_id, runs_table.c.finished.is_(True)
                )
            ).scalar()
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

    # -- writes ----------------------------------------------------------------------------------

    def _upsert_sessions(self, conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
        for part in _chunks(rows):
            ids = [r["session_id"] for r in part]
            conn.execute(sa.delete(sessions_table).where(sessions_table.c.session_id.in_(ids)))
            conn.execute(sa.insert(sessions_table), list(part))

    def stage(
        self,
        dag_id: str,
        run_id: str,
        batch_id: str,
        entries: Sequence[SessionEntry],
        *,
        data_format: str,
        activity_id: str | None = None,
    ) -> None:
        """Record a batch and its sessions as staged (idempotent for a retried planning task)."""
        now = _now()
        rows = [
            {
                "session_id": e.session_id,
                "data_format": data_format,
                "activity_id": e.activity_id,
                "user_id": e.user_id,
                "content_hash": e.content_hash,
                "batch_id": batch_id,
                "job_reference": None,
                "status": SessionStatus.STAGED.value,
                "error": None,
                "verified": None,
                "dag_id": dag_id,
                "run_id": run_id,
                "created_at": now,
                "updated_at": now,
            }
            for e in entries
        ]
        with self._engine.begin() as conn:
            self._upsert_sessions(conn, rows)
            _remember(conn, sessions_table.c.batch_id == batch_id)
            conn.execute(sa.delete(batches_table).where(batches_table.c.batch_id == batch_id))
            conn.execute(
                sa.insert(batches_table).values(
                    batch_id=batch_id,
                    dag_id=dag_id,
                    run_id=run_id,
                    activity_id=activity_id,
                    session_count=len(entries),
                )
            )

    def quarantine(
        self, dag_id: str, run_id: str, data_format: str, problems: Mapping[str, tuple[str, str, str]]
    ) -> None:
        """Record held-back sessions: session id -> (activity_id, user_id, reason). A session id
        the ledger knows as another learner's or activity's keeps its owner's record."""
        now = _now()
        owners = self.owners(list(problems))
        rows = [
            {
                "session_id": sid,
                "data_format": data_format,
                "activity_id": activity,
                "user_id": user,
                "content_hash": None,
                "batch_id": None,
                "job_reference": None,
                "status": SessionStatus.QUARANTINED.value,
                "error": reason,
                "verified": None,
                "dag_id": dag_id,
                "run_id": run_id,
                "created_at": now,
                "updated_at": now,
            }
            for sid, (activity, user, reason) in problems.items()
            if owners.get(sid, (activity, user)) == (activity, user)
        ]
        with self._engine.begin() as conn:
            self._upsert_sessions(conn, rows)
            for part in _chunks([r["session_id"] for r in rows]):
                _remember(conn, sessions_table.c.session_id.in_(part))

    def job_for_batch(self, batch_id: str) -> str | None:
        """The job reference already recorded for a batch: a retried task must not post it again."""
        with self._engine.connect() as conn:
            return conn.execute(
                sa.select(batches_table.c.job_reference).where(batches_table.c.batch_id == batch_id)
            ).scalar()

    def posted_batches(self, dag_id: str, run_id: str) -> dict[str, PostedBatch]:
        """Every batch of the run with a job, by batch id, in one query: what a submit task resumes
        without reading each batch (`job_for_batch` and `awaits_outcome` for all of them)."""
        b, s = batches_table.c, sessions_table.c
        waiting = (
            sa.select(s.batch_id)
            .where(s.dag_id == dag_id, s.run_id == run_id, s.status == SessionStatus.SUBMITTED.value)
            .distinct()
            .subquery()
        )
        query = (
            sa.select(b.batch_id, b.job_reference, b.session_count, waiting.c.batch_id.is_not(None))
            .outerjoin(waiting, waiting.c.batch_id == b.batch_id)
            .where(b.dag_id == dag_id, b.run_id == run_id, b.job_reference.is_not(None))
        )
        with self._engine.connect() as conn:
            return {
                batch_id: PostedBatch(batch_id, job, int(count), bool(waits))
                for batch_id, job, count, waits in conn.execute(query)
            }

    def refresh_statistics(self) -> None:
        """On PostgreSQL, ANALYZE the sessions and batches tables once a plan has staged its run:
        the queries that follow are then planned for the rows just written, not for a run of one
        row (autovacuum gets there a minute later, when sending has long started)."""
        if self._engine.dialect.name != "postgresql":
            return
        with self._engine.begin() as conn:
            conn.execute(sa.text(f"ANALYZE {sessions_table.name}, {batches_table.name}"))

    def awaits_outcome(self, batch_id: str) -> bool:
        """Whether a posted batch still has sessions no job answer settled (sent, not recorded)."""
        s = sessions_table.c
        with self._engine.connect() as conn:
            found = conn.execute(
                sa.select(s.session_id)
                .where(s.batch_id == batch_id, s.status == SessionStatus.SUBMITTED.value)
                .limit(1)
            ).first()
        return found is not None

    def record_submission(self, batch_id: str, job_reference: str) -> None:
        now = _now()
        with self._engine.begin() as conn:
            conn.execute(
                sa.update(batches_table)
                .where(batches_table.c.batch_id == batch_id)
                .values(job_reference=job_reference, job_status="queued", submitted_at=now)
            )
            conn.execute(
                sa.update(sessions_table)
                .where(sessions_table.c.batch_id == batch_id)
                .values(job_reference=job_reference, status=SessionStatus.SUBMITTED.value, updated_at=now)
            )
            _remember(conn, sessions_table.c.batch_id == batch_id)

    def split_batch(self, batch_id: str, part_id: str, session_ids: Sequence[str]) -> None:
        """Move some sessions of a batch into a batch of their own (a refused batch is halved to
        find the sessions refused); idempotent, so a retried task resumes the same parts."""
        with self._engine.begin() as conn:
            parent = conn.execute(sa.select(batches_table).where(batches_table.c.batch_id == batch_id)).one()
            if (
                conn.execute(
                    sa.select(batches_table.c.batch_id).where(batches_table.c.batch_id == part_id)
                ).first()
                is None
            ):
                conn.execute(
                    sa.insert(batches_table).values(
                        batch_id=part_id,
                        dag_id=parent.dag_id,
                        run_id=parent.run_id,
                        activity_id=parent.activity_id,
                        session_count=len(session_ids),
                    )
                )
            for part in _chunks(list(session_ids)):
                conn.execute(
                    sa.update(sessions_table)
                    .where(sessions_table.c.session_id.in_(part))
                    .values(batch_id=part_id, updated_at=_now())
                )

    def record_rejection(self, batch_id: str, error: str) -> None:
        """The Data API refused the batch's sessions for a reason no retry can fix."""
        with self._engine.begin() as conn:
            conn.execute(
                sa.update(sessions_table)
                .where(sessions_table.c.batch_id == batch_id)
                .values(status=SessionStatus.REJECTED.value, error=error, updated_at=_now())
            )
            _remember(conn, sessions_table.c.batch_id == batch_id)

    def record_job(self, job_reference: str, job_status: str, outcomes: Sequence[SessionOutcome]) -> None:
        """Store a finished (or timed-out) job's per-session outcomes."""
        self.record_jobs([(job_reference, job_status, outcomes)])

    def record_jobs(self, jobs: Iterable[tuple[str, str, Sequence[SessionOutcome]]]) -> None:
        """Store many jobs' (reference, status, per-session outcomes) in one transaction, set-based:
        sessions sharing an outcome are updated by one statement per job and chunk, never one each."""
        now = _now()
        with self._engine.begin() as conn:
            for job_reference, job_status, outcomes in jobs:
                conn.execute(
                    sa.update(batches_table)
                    .where(batches_table.c.job_reference == job_reference)
                    .values(job_status=job_status)
                )
                alike: dict[tuple[SessionStatus, str | None], list[str]] = {}
                for o in outcomes:
                    alike.setdefault((o.status, o.error), []).append(o.session_id)
                for (status, error), session_ids in alike.items():
                    for part in _chunks(session_ids):
                        of_job = sa.and_(
                            sessions_table.c.session_id.in_(part),
                            sessions_table.c.job_reference == job_reference,
                        )
                        conn.execute(
                            sa.update(sessions_table)
                            .where(of_job)
                            .values(status=status.value, error=error, updated_at=now)
                        )
                        _remember(conn, of_job)

    def record_verification(self, results: Mapping[str, str | None]) -> None:
        """session id -> None when the read-back matched, else what differed. A job's answer may not
        say which sessions it stored, so a session missing or different on read-back is `failed`:
        it no longer counts as delivered and the next run sends it again. Matched sessions are
        updated set-based (one statement per chunk); differences, rare, one parameter set each."""
        now = _now()
        with self._engine.begin() as conn:
            matched = [sid for sid, problem in results.items() if problem is None]
            differed = [{"sid": sid, "problem": p} for sid, p in results.items() if p is not None]
            for part in _chunks(matched):
                conn.execute(
                    sa.update(sessions_table)
                    .where(sessions_table.c.session_id.in_(part))
                    .values(verified=True, updated_at=now)
                )
            if differed:
                conn.execute(
                    sa.update(sessions_table)
                    .where(sessions_table.c.session_id == sa.bindparam("sid"))
                    .values(
                        verified=False,
                        status=SessionStatus.FAILED.value,
                        error=sa.bindparam("problem"),
                        updated_at=now,
                    ),
                    differed,
                )
            for part in _chunks(list(results)):
                _remember(conn, sessions_table.c.session_id.in_(part))

    def start_run(
        self, dag_id: str, run_id: str, window_start: datetime | None, window_end: datetime | None
    ) -> None:
        with self._engine.begin() as conn:
            conn.execute(sa.delete(runs_table).where(*of_run(runs_table, dag_id, run_id)))
            conn.execute(
                sa.insert(runs_table).values(
                    dag_id=dag_id,
                    run_id=run_id,
                    window_start=window_start,
                    window_end=window_end,
                    finished=False,
                    updated_at=_now(),
                )
            )

    def finish_run(self, dag_id: str, run_id: str) -> None:
        """Mark a run's window delivered so the next incremental window starts after it."""
        with self._engine.begin() as conn:
            conn.execute(
                sa.update(runs_table)
                .where(*of_run(runs_table, dag_id, run_id))
                .values(finished=True, updated_at=_now())
            )

    # -- leases: one run at a time on a shared resource -----------------------------------------

    def acquire_lease(self, resource: str, holder: str, ttl: timedelta) -> str | None:
        """Take (or renew) the lease on `resource` for `holder` until now + ttl; None when taken,
        else the holder that has it. Atomic in the database: of two runs asking at once, one wins.
        """
        now = _now()
        expires = now + ttl
        with self._engine.begin() as conn:
            taken = conn.execute(
                sa.update(leases_table)
                .where(
                    leases_table.c.resource == resource,
                    sa.or_(leases_table.c.holder == holder, leases_table.c.expires_at < now),
                )
                .values(holder=holder, expires_at=expires)
            ).rowcount
        if taken:
            return None
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    sa.insert(leases_table).values(resource=resource, holder=holder, expires_at=expires)
                )
            return None
        except sa.exc.IntegrityError:
            with self._engine.connect() as conn:
                other: str | None = conn.execute(
                    sa.select(leases_table.c.holder).where(leases_table.c.resource == resource)
                ).scalar()
            return other or "another run"

    def release_lease(self, resource: str, holder: str) -> None:
        """Give the lease back (only the holder can; an expired one may already be someone else's)."""
        with self._engine.begin() as conn:
            conn.execute(
                sa.delete(leases_table).where(
                    leases_table.c.resource == resource, leases_table.c.holder == holder
                )
            )

    # -- reads for reporting -----------------------------------------------------------------------

    def jobs_of_run(self, dag_id: str, run_id: str) -> dict[str, list[str]]:
        """job reference -> session ids it carried, for the sessions of this run."""
        jobs: dict[str, list[str]] = {}
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(sessions_table.c.job_reference, sessions_table.c.session_id).where(
                    *of_run(sessions_table, dag_id, run_id), sessions_table.c.job_reference.is_not(None)
                )
            )
            for ref, sid in rows:
                jobs.setdefault(ref, []).append(sid)
        return jobs

    def unsettled_jobs_of_run(self, dag_id: str, run_id: str) -> dict[str, JobSessions]:
        """The run's jobs with a session no job answer settled: still submitted, or failed by its
        job (a halt, a wait that timed out, an unknown job) and so worth asking again. A session
        that completed, or that read-back found different (failed, `verified` false), is settled."""
        unsettled = sa.or_(
            sessions_table.c.status == SessionStatus.SUBMITTED.value,
            sa.and_(
                sessions_table.c.status == SessionStatus.FAILED.value, sessions_table.c.verified.is_(None)
            ),
        )
        sent = (*of_run(sessions_table, dag_id, run_id), sessions_table.c.job_reference.is_not(None))
        # One pass, each session flagged with whether its job has an unsettled one (a window over
        # the job): an IN over the open jobs becomes a nested loop, quadratic in the run's
        # sessions, when the planner's statistics predate the run's rows (a fresh run's do).
        flag = sa.case((unsettled, 1), else_=0)
        flagged = (
            sa.select(
                sessions_table.c.job_reference,
                sessions_table.c.session_id,
                flag.label("unsettled"),
                sa.func.max(flag).over(partition_by=sessions_table.c.job_reference).label("job_open"),
            )
            .where(*sent)
            .subquery()
        )
        jobs: dict[str, JobSessions] = {}
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(flagged.c.job_reference, flagged.c.session_id, flagged.c.unsettled).where(
                    flagged.c.job_open == 1
                )
            )
            for ref, sid, is_unsettled in rows:
                job = jobs.setdefault(ref, JobSessions([], set()))
                job.session_ids.append(sid)
                if is_unsettled:
                    job.unsettled.add(sid)
        return jobs

    def job_statuses(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        """job reference -> the status last recorded for it, for the jobs of this run."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(batches_table.c.job_reference, batches_table.c.job_status).where(
                    *of_run(batches_table, dag_id, run_id), batches_table.c.job_reference.is_not(None)
                )
            )
            return {ref: status for ref, status in rows}

    def history(self, *, session_id: str | None = None, user_id: str | None = None) -> list[HistoryRow]:
        """Every recorded change of a session's, or of a learner's sessions', delivery, oldest first."""
        if session_id is None and user_id is None:
            raise ValueError("name a session_id or a user_id")
        query = sa.select(history_table).order_by(history_table.c.recorded_at, history_table.c.id)
        if session_id is not None:
            query = query.where(history_table.c.session_id == session_id)
        if user_id is not None:
            query = query.where(history_table.c.user_id == user_id)
        with self._engine.connect() as conn:
            return [HistoryRow.model_validate(dict(r._mapping)) for r in conn.execute(query)]

    def unverified_of_run(self, dag_id: str, run_id: str, stand_in_prefix: str) -> dict[str, set[str]]:
        """batch id -> the run's completed sessions in it not read back yet (ids only), skipping
        stand-in keys (`stand_in_prefix`: blobs that named no session, which cannot be read back).
        Filtered in the database: after the submit tasks followed their jobs, few or none."""
        s = sessions_table.c
        batches: dict[str, set[str]] = {}
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(s.batch_id, s.session_id).where(
                    *of_run(sessions_table, dag_id, run_id),
                    s.status == SessionStatus.COMPLETED.value,
                    s.verified.is_(None),
                    s.batch_id.is_not(None),
                    ~s.session_id.startswith(stand_in_prefix, autoescape=True),
                )
            )
            for batch_id, session_id in rows:
                batches.setdefault(batch_id, set()).add(session_id)
        return batches

    def iter_sessions_of_run(self, dag_id: str, run_id: str, chunk: int = 10_000) -> Iterator[SessionRow]:
        """The run's sessions, read `chunk` rows at a time: for a pass over a run of any size."""
        with self._engine.connect() as conn:
            rows = conn.execution_options(yield_per=chunk).execute(
                sa.select(sessions_table).where(*of_run(sessions_table, dag_id, run_id))
            )
            for row in rows:
                yield SessionRow.model_validate(dict(row._mapping))

    def sessions_of_run(self, dag_id: str, run_id: str) -> list[SessionRow]:
        return list(self.iter_sessions_of_run(dag_id, run_id))
