"""Landing-location leases (one replay at a time) and the append-only delivery history."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "learnosity_ledger_leases" not in existing:
        op.create_table(
            "learnosity_ledger_leases",
            sa.Column("resource", sa.String(1024), primary_key=True),
            sa.Column("holder", sa.String(255), nullable=False),
            sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        )
    if "learnosity_ledger_history" not in existing:
        op.create_table(
            "learnosity_ledger_history",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("session_id", sa.String(64), nullable=False, index=True),
            sa.Column("user_id", sa.String(255), index=True),
            sa.Column("activity_id", sa.String(255)),
            sa.Column("content_hash", sa.String(64)),
            sa.Column("run_id", sa.String(255)),
            sa.Column("batch_id", sa.String(255)),
            sa.Column("job_reference", sa.String(64)),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("verified", sa.Boolean),
            sa.Column("error", sa.Text),
            sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        )


def downgrade() -> None:
    raise NotImplementedError("the ledger is never downgraded: restore a backup instead")
