"""`make bench-reconcile`: how fast a reconcile compares a season of sessions with the ledger.

A PostgreSQL ledger (a fresh database on 127.0.0.1, removed afterwards) holds BENCH_SESSIONS
sessions (default 1,000,000), 99% of them completed (written in bulk). The warehouse's side is
those sessions again with 1% never delivered and 1% changed since, streamed in chunks of 50,000
as the plan streams them; each chunk is compared by `Ledger.standing` (one query per 10,000 ids,
returning only the sessions not completed with that content) and classified as a reconcile does.
Seeding is not timed. The last line reads:
`reconcile: N sessions compared/s (M missing, C changed, K in place), peak RSS R MB`.
"""

from __future__ import annotations

import hashlib
import os
import resource
import time
import uuid
from collections.abc import Iterator

import sqlalchemy as sa

from learnosity_core.delivery.ledger import Ledger, SessionStatus

SESSIONS = int(os.environ.get("BENCH_SESSIONS", "1000000"))
CHUNK = 50_000
ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")


def _session_id(n: int) -> str:
    return hashlib.md5(f"s{n}".encode(), usedforsecurity=False).hexdigest()


def _hash(n: int, version: int = 0) -> str:
    return hashlib.sha256(f"{n}/{version}".encode()).hexdigest()


def _seed(url: str) -> None:
    """Every session but the 1% 'missing' ones completed, written by one INSERT ... SELECT on the
    server (as a season of runs would have left them; how runs write is not what this measures).
    The ids and hashes are the same functions of n as `_warehouse` computes in Python."""
    started = time.monotonic()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO learnosity_ledger_sessions (session_id, data_format, activity_id, user_id,"
                " content_hash, batch_id, job_reference, status, verified, run_id, created_at, updated_at)"
                " SELECT md5('s' || n), 'from_template', 'act', 'u' || n,"
                " encode(sha256(convert_to(n || '/0', 'UTF8')), 'hex'),"
                " 'seed/' || (n / 50), 'job-' || (n / 50), :status, true, 'seed', now(), now()"
                " FROM generate_series(0, :last) AS n WHERE n % 100 <> 0"
            ),
            {"status": SessionStatus.COMPLETED.value, "last": SESSIONS - 1},
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("ANALYZE learnosity_ledger_sessions"))  # as autovacuum would, in time
    engine.dispose()
    delivered = SESSIONS - len(range(0, SESSIONS, 100))
    print(f"seeded {delivered:,} completed sessions in {time.monotonic() - started:.0f} s", flush=True)


def _warehouse() -> Iterator[list[tuple[str, str]]]:
    """(session id, content hash) in chunks: 1% never delivered, 1% changed since delivery."""
    for start in range(0, SESSIONS, CHUNK):
        yield [
            (_session_id(n), _hash(n, 1 if n % 100 == 1 else 0))
            for n in range(start, min(start + CHUNK, SESSIONS))
        ]


def main() -> None:
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"bench_reconcile_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        url = admin.url.set(database=name).render_as_string(hide_password=False)
        ledger = Ledger.from_url(url)  # creates the schema
        _seed(url)
        missing = changed = in_place = 0
        compared = 0.0
        for chunk in _warehouse():
            started = time.monotonic()
            standing = ledger.standing(dict(chunk))
            for was in standing.values():
                if was.status is None:
                    missing += 1
                elif not was.same_content:
                    changed += 1
            in_place += len(chunk) - len(standing)  # left out: completed with this content
            compared += time.monotonic() - started
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"reconcile: {SESSIONS / compared:,.0f} sessions compared/s ({missing} missing,"
            f" {changed} changed, {in_place} in place), peak RSS {peak_mb:.0f} MB"
        )
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
