"""Ledger migrations: a ledger made by the release before migrations is upgraded with its rows."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from learnosity_core.delivery import ledger_schema
from learnosity_core.delivery.ledger import Ledger, SessionEntry, SessionStatus, Standing

DAG_ID = "learnosity_template_submission"

# The DDL `create_all` made in the release before migrations (tables only, as it created them).
RELEASE_SCHEMA = [
    """CREATE TABLE learnosity_ledger_sessions (session_id VARCHAR(64) PRIMARY KEY,
    data_format VARCHAR(32) NOT NULL, activity_id VARCHAR(255), user_id VARCHAR(255),
    content_hash VARCHAR(64), batch_id VARCHAR(255), job_reference VARCHAR(64),
    status VARCHAR(16) NOT NULL, error TEXT, verified BOOLEAN, run_id VARCHAR(255),
    created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL)""",
    """CREATE TABLE learnosity_ledger_batches (batch_id VARCHAR(255) PRIMARY KEY,
    run_id VARCHAR(255) NOT NULL, activity_id VARCHAR(255), session_count INTEGER NOT NULL,
    job_reference VARCHAR(64), job_status VARCHAR(16), submitted_at TIMESTAMP)""",
    """CREATE TABLE learnosity_ledger_runs (dag_id VARCHAR(255), run_id VARCHAR(255),
    window_start TIMESTAMP, window_end TIMESTAMP, finished BOOLEAN NOT NULL,
    updated_at TIMESTAMP NOT NULL, PRIMARY KEY (dag_id, run_id))""",
]
WHEN = datetime(2026, 11, 20, 2, 0)


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> sa.Engine:
    if request.param == "sqlite":
        return sa.create_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    return sa.create_engine(request.getfixturevalue("postgres_url"))


def _release_ledger(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        for ddl in RELEASE_SCHEMA:
            conn.execute(sa.text(ddl))
        conn.execute(
            sa.text(
                "INSERT INTO learnosity_ledger_sessions VALUES ('s1', 'from_template', 'act-1', 'u1', 'h1',"
                " 'b1', 'job-1', 'completed', NULL, TRUE, 'run-1', :t, :t)"
            ),
            {"t": WHEN},
        )
        conn.execute(
            sa.text(
                "INSERT INTO learnosity_ledger_batches VALUES"
                " ('b1', 'run-1', 'act-1', 1, 'job-1', 'completed', :t)"
            ),
            {"t": WHEN},
        )
        conn.execute(
            sa.text("INSERT INTO learnosity_ledger_runs VALUES ('dag', 'run-1', NULL, :t, TRUE, :t)"),
            {"t": WHEN},
        )


def test_a_release_ledger_is_upgraded_keeping_every_row(engine: sa.Engine) -> None:
    _release_ledger(engine)
    assert ledger_schema.current(engine) is None

    ledger = Ledger(engine)

    assert ledger_schema.current(engine) == ledger.revision() == "0003"
    tables = set(sa.inspect(engine).get_table_names())
    assert {"learnosity_ledger_history", "learnosity_ledger_leases", ledger_schema.VERSION_TABLE} <= tables
    assert "alembic_version" not in tables, "Airflow's own version table is never touched"
    (kept,) = ledger.sessions_of_run("dag", "run-1")  # the DAG its run was recorded under
    assert (kept.session_id, kept.status, kept.content_hash, kept.verified) == ("s1", "completed", "h1", True)
    assert ledger.job_statuses("dag", "run-1") == {"job-1": "completed"}
    assert ledger.job_for_batch("b1") == "job-1"
    assert ledger.last_window_end("dag") == WHEN.replace(tzinfo=UTC)
    assert ledger.standing({"s1": "h1"}) == {}, "delivered with this content"
    assert ledger.standing({"s1": "h9"}) == {"s1": Standing(SessionStatus.COMPLETED, same_content=False)}
    ledger.stage(
        DAG_ID, "run-2", "b2", [SessionEntry("s2", "h2", "act-1", "u2")], data_format="from_template"
    )
    assert [h.status for h in ledger.history(session_id="s2")] == [SessionStatus.STAGED]


def test_a_new_ledger_starts_at_the_newest_revision_and_upgrading_again_changes_nothing(
    engine: sa.Engine,
) -> None:
    Ledger(engine)
    assert ledger_schema.current(engine) == "0003"
    ledger_schema._UPGRADED.clear()  # as a new process would
    Ledger(engine).stage(DAG_ID, "run-1", "b1", [SessionEntry("s1", "h1", "act-1", "u1")], data_format="x")
    assert ledger_schema.current(engine) == "0003"
