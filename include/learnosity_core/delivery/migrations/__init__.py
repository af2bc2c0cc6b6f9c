"""Alembic migrations of the delivery ledger (run by `ledger_schema.upgrade`, never by hand)."""
