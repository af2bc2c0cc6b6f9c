"""Runs are told apart by DAG as well as run id: Airflow's run ids are unique per DAG only, so two
DAGs scheduled at the same time (the nightly and the reconcile, say) share one.

Adds `dag_id` to sessions, batches and the history. Rows written before it get the DAG their run
was recorded under in the runs table when exactly one DAG had a run of that id; the rest keep
NULL (they belong to finished runs: nothing looks them up by run any more).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLES = ("learnosity_ledger_sessions", "learnosity_ledger_batches", "learnosity_ledger_history")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("dag_id", sa.String(255)))
    runs = sa.table("learnosity_ledger_runs", sa.column("dag_id"), sa.column("run_id"))
    only_dag = sa.select(sa.func.min(runs.c.dag_id)).group_by(runs.c.run_id).having(sa.func.count() == 1)
    for name in TABLES:
        rows = sa.table(name, sa.column("dag_id"), sa.column("run_id"))
        dag = only_dag.where(runs.c.run_id == rows.c.run_id).scalar_subquery()
        op.execute(sa.update(rows).values(dag_id=dag))
    op.create_index(
        "ix_learnosity_ledger_sessions_dag_run", "learnosity_ledger_sessions", ["dag_id", "run_id"]
    )
    op.create_index("ix_learnosity_ledger_batches_dag_run", "learnosity_ledger_batches", ["dag_id", "run_id"])


def downgrade() -> None:
    raise NotImplementedError("the ledger is never downgraded: restore a backup instead")
