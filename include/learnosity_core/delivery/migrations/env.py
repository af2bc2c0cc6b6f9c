"""Alembic environment: migrate the ledger through the connection `ledger_schema.upgrade` opened."""

from __future__ import annotations

from alembic import context

from learnosity_core.delivery.ledger_schema import VERSION_TABLE

context.configure(connection=context.config.attributes["connection"], version_table=VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()
