"""The ledger as the first release created it: sessions, batches and runs.

Installs from before migrations already have these tables (made by `create_all`): each is
created only when missing, so their rows stay as they are.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _missing(table: str) -> bool:
    return not sa.inspect(op.get_bind()).has_table(table)


def upgrade() -> None:
    if _missing("learnosity_ledger_sessions"):
        op.create_table(
            "learnosity_ledger_sessions",
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
            sa.Column("run_id", sa.String(255), index=True),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        )
    if _missing("learnosity_ledger_batches"):
        op.create_table(
            "learnosity_ledger_batches",
            sa.Column("batch_id", sa.String(255), primary_key=True),
            sa.Column("run_id", sa.String(255), index=True, nullable=False),
            sa.Column("activity_id", sa.String(255)),
            sa.Column("session_count", sa.Integer, nullable=False),
            sa.Column("job_reference", sa.String(64)),
            sa.Column("job_status", sa.String(16)),
            sa.Column("submitted_at", sa.DateTime(timezone=True)),
        )
    if _missing("learnosity_ledger_runs"):
        op.create_table(
            "learnosity_ledger_runs",
            sa.Column("dag_id", sa.String(255), primary_key=True),
            sa.Column("run_id", sa.String(255), primary_key=True),
            sa.Column("window_start", sa.DateTime(timezone=True)),
            sa.Column("window_end", sa.DateTime(timezone=True)),
            sa.Column("finished", sa.Boolean, nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        )


def downgrade() -> None:
    raise NotImplementedError("the ledger is never downgraded: restore a backup instead")
