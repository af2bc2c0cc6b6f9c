"""Helpers shared by the operators."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from airflow.sdk import Context


def parse_time(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def dag_and_run(context: Context) -> tuple[str, str]:
    return context["dag"].dag_id, context["run_id"]
