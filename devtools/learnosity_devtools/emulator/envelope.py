"""The Data API answer envelope and its error catalogue (codes as Learnosity documents them)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, Final

INTERNAL_ERROR: Final = 10000
MISSING_PARAMETER: Final = 20000
TOO_MANY_PARAMETERS: Final = 20002
INVALID_VALUE: Final = 20004
SCHEMA_INVALID: Final = 20009
NOT_FOUND: Final = 20012
ITEM_NOT_FOUND: Final = 20013
METHOD_NOT_ALLOWED: Final = 40001
NO_RIGHTS: Final = 40003
MISSING_SECURITY: Final = 41000
BAD_SIGNATURE_LENGTH: Final = 41001
UNKNOWN_CONSUMER: Final = 41002
SIGNATURE_MISMATCH: Final = 41003
TIMESTAMP_OUT_OF_RANGE: Final = 41004
BAD_EXPIRES: Final = 41006
EXPIRED: Final = 41007
TOO_MANY_REQUESTS: Final = 42000

# The exact body Learnosity answers a rate-limited request with (no timestamp, no data).
RATE_LIMITED_BODY: Final = {
    "meta": {"status": False, "code": TOO_MANY_REQUESTS, "message": "Too many requests"}
}


class ApiError(Exception):
    """A request the Data API refuses: HTTP status, Learnosity error code and message."""

    def __init__(self, http_status: int, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.http_status = http_status
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        return {
            "meta": {
                "status": False,
                "timestamp": int(time.time()),
                "code": self.code,
                "message": self.message,
            }
        }


def success(data: Any, **meta: Any) -> dict[str, Any]:
    return {"meta": {"status": True, "timestamp": int(time.time()), **meta}, "data": data}


def format_dt(epoch: float | None) -> str | None:
    """Learnosity's `dt_*` format: UTC `YYYY-MM-DD HH:MM:SS`."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")
