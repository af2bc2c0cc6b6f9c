"""Everything the emulator keeps, in one SQLite file (WAL), so a restart loses nothing.

One connection shared under a lock: writes are a few milliseconds, and request latency is
simulated outside it, so the lock never serialises slow requests. Job creation stores the raw
request together with the job row in one transaction; a job's writes and its completion are
another single transaction, so a crash mid-job leaves it `running`, to be redone on restart.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from learnosity_devtools.emulator.codes import SESSION_CONFLICT
from learnosity_devtools.emulator.models import JobRecord, JobResult, SessionError, SessionWrite

JOB_TYPE = "sessions_set"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    reference TEXT NOT NULL UNIQUE,
    consumer_key TEXT NOT NULL,
    type TEXT NOT NULL,
    status TEXT NOT NULL,
    request TEXT NOT NULL,
    halt_reason TEXT,
    created_at REAL NOT NULL,
    run_at REAL NOT NULL,
    complete_at REAL NOT NULL,
    completed_at REAL,
    result TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, complete_at);
CREATE TABLE IF NOT EXISTS sessions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL,
    activity_id TEXT NOT NULL,
    num_questions INTEGER NOT NULL,
    started_at REAL NOT NULL,
    saved_at REAL NOT NULL,
    writes INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user_id);
CREATE INDEX IF NOT EXISTS sessions_activity ON sessions (activity_id);
CREATE TABLE IF NOT EXISTS responses (
    session_id TEXT NOT NULL,
    response_id TEXT NOT NULL,
    question_type TEXT,
    revision INTEGER NOT NULL,
    response TEXT NOT NULL,
    PRIMARY KEY (session_id, response_id)
);
"""


class DueJob(NamedTuple):
    reference: str
    request: str
    halt_reason: str | None


class StoredResponse(NamedTuple):
    response_id: str
    question_type: str | None
    response: dict[str, Any]


class StoredSession(NamedTuple):
    seq: int
    session_id: str
    user_id: str
    activity_id: str
    num_questions: int
    started_at: float
    saved_at: float
    writes: int
    responses: list[StoredResponse]


class Store:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    # Jobs

    def create_job(
        self,
        *,
        reference: str,
        consumer_key: str,
        request: str,
        result: JobResult,
        created_at: float,
        run_at: float,
        complete_at: float,
        halt_reason: str | None,
    ) -> None:
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO jobs (reference, consumer_key, type, status, request, halt_reason, created_at,"
                " run_at, complete_at, result) VALUES (?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?)",
                (
                    reference,
                    consumer_key,
                    JOB_TYPE,
                    request,
                    halt_reason,
                    created_at,
                    run_at,
                    complete_at,
                    result.model_dump_json(),
                ),
            )

    def start_due_jobs(self, now: float) -> list[DueJob]:
        """Move queued jobs whose time came to `running`; the running ones due to finish, oldest first."""
        with self._transaction() as conn:
            conn.execute("UPDATE jobs SET status = 'running' WHERE status = 'queued' AND run_at <= ?", (now,))
            rows = conn.execute(
                "SELECT reference, request, halt_reason FROM jobs"
                " WHERE status = 'running' AND complete_at <= ? ORDER BY seq",
                (now,),
            ).fetchall()
        return [DueJob(*row) for row in rows]

    def next_due(self) -> float | None:
        """When the next unfinished job changes state (epoch seconds), None when none is pending."""
        (due,) = self._query(
            "SELECT MIN(CASE status WHEN 'queued' THEN run_at ELSE complete_at END) FROM jobs"
            " WHERE status IN ('queued', 'running')"
        )[0]
        return float(due) if due is not None else None

    def halt_job(self, reference: str, result: JobResult, now: float) -> None:
        with self._transaction() as conn:
            self._finish(conn, reference, "halted", result, now)

    def complete_job(
        self,
        reference: str,
        result: JobResult,
        writes: Sequence[SessionWrite],
        ignore_revisions: bool,
        now: float,
    ) -> JobResult:
        """Store the sessions and complete the job in one transaction; conflicts become errors."""
        stored: list[str] = []
        errors = list(result.errors)
        with self._transaction() as conn:
            for write in writes:
                conflict = self._conflict(conn, write)
                if conflict is not None:
                    errors.append(conflict)
                    continue
                self._write_session(conn, write, ignore_revisions, now)
                stored.append(write.session_id)
            result = result.model_copy(
                update={"sessions_stored": stored, "errors": sorted(errors, key=lambda e: e.index)}
            )
            self._finish(conn, reference, "completed", result, now)
        return result

    @staticmethod
    def _finish(conn: sqlite3.Connection, reference: str, status: str, result: JobResult, now: float) -> None:
        conn.execute(
            "UPDATE jobs SET status = ?, completed_at = ?, result = ? WHERE reference = ?",
            (status, now, result.model_dump_json(), reference),
        )

    @staticmethod
    def _conflict(conn: sqlite3.Connection, write: SessionWrite) -> SessionError | None:
        row = conn.execute(
            "SELECT user_id, activity_id FROM sessions WHERE session_id = ?", (write.session_id,)
        ).fetchone()
        if row is None or tuple(row) == (write.user_id, write.activity_id):
            return None
        return SessionError(
            index=write.index,
            session_id=write.session_id,
            user_id=write.user_id,
            activity_id=write.activity_id,
            code=SESSION_CONFLICT,
            message=f"session {write.session_id} already belongs to user {row[0]!r} in activity {row[1]!r}",
        )

    @staticmethod
    def _write_session(
        conn: sqlite3.Connection, write: SessionWrite, ignore_revisions: bool, now: float
    ) -> None:
        saved_at = write.dt_saved if write.dt_saved is not None else now
        conn.execute(
            "INSERT INTO sessions"
            " (session_id, user_id, activity_id, num_questions, started_at, saved_at, writes)"
            " VALUES (?, ?, ?, ?, ?, ?, 1) ON CONFLICT (session_id) DO UPDATE SET"
            " num_questions = excluded.num_questions, saved_at = excluded.saved_at, writes = writes + 1",
            (write.session_id, write.user_id, write.activity_id, write.num_questions, now, saved_at),
        )
        # A lower incoming revision never overwrites a stored response, unless told to ignore revisions.
        conn.executemany(
            "INSERT INTO responses (session_id, response_id, question_type, revision, response)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (session_id, response_id) DO UPDATE SET"
            " question_type = excluded.question_type, revision = excluded.revision,"
            " response = excluded.response"
            " WHERE ? OR excluded.revision >= responses.revision",
            [
                (
                    write.session_id,
                    r.response_id,
                    r.question_type,
                    r.revision,
                    json.dumps(r.response, ensure_ascii=False),
                    ignore_revisions,
                )
                for r in write.responses
            ],
        )

    def jobs(
        self, consumer_key: str, references: Sequence[str], statuses: Sequence[str] | None
    ) -> list[JobRecord]:
        """The consumer's jobs among `references`, in the order asked, filtered by status when given."""
        if not references:
            return []
        marks = ",".join("?" * len(references))
        rows = self._query(
            f"SELECT reference, type, status, created_at, completed_at, result FROM jobs"
            f" WHERE consumer_key = ? AND reference IN ({marks})",
            [consumer_key, *references],
        )
        found = {
            row[0]: JobRecord(
                reference=row[0],
                type=row[1],
                status=row[2],
                created_at=row[3],
                completed_at=row[4],
                result=JobResult.model_validate_json(row[5]),
            )
            for row in rows
            if statuses is None or row[2] in statuses
        }
        return [found[r] for r in dict.fromkeys(references) if r in found]

    def job_counts(self) -> dict[str, int]:
        counts = {"queued": 0, "running": 0, "completed": 0, "halted": 0}
        counts.update(
            {status: n for status, n in self._query("SELECT status, COUNT(*) FROM jobs GROUP BY status")}
        )
        return counts

    # Sessions

    def sessions(
        self,
        *,
        after: int = 0,
        limit: int | None = None,
        session_ids: Sequence[str] | None = None,
        user_ids: Sequence[str] | None = None,
        activity_ids: Sequence[str] | None = None,
    ) -> list[StoredSession]:
        """Stored sessions in storage order after position `after`, filtered, with their responses."""
        sql = "SELECT seq, session_id, user_id, activity_id, num_questions, started_at, saved_at, writes"
        sql += " FROM sessions WHERE seq > ?"
        params: list[Any] = [after]
        for column, values in (
            ("session_id", session_ids),
            ("user_id", user_ids),
            ("activity_id", activity_ids),
        ):
            if values is not None:
                sql += f" AND {column} IN ({','.join('?' * len(values))})"
                params += values
        sql += " ORDER BY seq" + (" LIMIT ?" if limit is not None else "")
        params += [limit] if limit is not None else []
        with self._lock:
            rows = self._conn.execute(sql, params).fetchall()
            responses = self._responses([row[1] for row in rows])
        return [
            StoredSession(seq, sid, user, activity, questions, started, saved, writes, responses.get(sid, []))
            for seq, sid, user, activity, questions, started, saved, writes in rows
        ]

    def _responses(self, session_ids: Sequence[str]) -> dict[str, list[StoredResponse]]:
        by_session: dict[str, list[StoredResponse]] = {}
        for start in range(0, len(session_ids), 500):
            chunk = session_ids[start : start + 500]
            rows = self._conn.execute(
                "SELECT session_id, response_id, question_type, response FROM responses"
                f" WHERE session_id IN ({','.join('?' * len(chunk))}) ORDER BY rowid",
                chunk,
            ).fetchall()
            for session_id, response_id, question_type, response in rows:
                by_session.setdefault(session_id, []).append(
                    StoredResponse(response_id, question_type, json.loads(response))
                )
        return by_session

    def delete_session(self, session_id: str) -> bool:
        """Forget one stored session and its responses, as if it was never stored; False when unknown."""
        with self._transaction() as conn:
            conn.execute("DELETE FROM responses WHERE session_id = ?", (session_id,))
            deleted: int = conn.execute("DELETE FROM sessions WHERE session_id = ?", (session_id,)).rowcount
        return deleted > 0

    def reset(self) -> None:
        with self._transaction() as conn:
            for table in ("responses", "sessions", "jobs"):
                conn.execute(f"DELETE FROM {table}")
