"""Typed Data API failures: what went wrong decides whether a retry can help.

Error text carries the HTTP status, the Data API code and the server's message, never the
consumer secret or the signed security packet.
"""

from __future__ import annotations

from typing import ClassVar

MAX_MESSAGE_CHARS = 1000


class DataApiError(Exception):
    """Any failed Data API call (`meta.status: false` on HTTP 200 included)."""

    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        code: int | None = None,
        server_message: str | None = None,
        endpoint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.code = code
        self.server_message = server_message
        self.endpoint = endpoint


class AuthenticationError(DataApiError):
    """Signature, consumer, timestamp or permission refused (41xxx, 40xxx): fix the connection."""


class DataApiValidationError(DataApiError):
    """The request was understood and refused (20xxx and other 4xx); resending cannot succeed."""


class RateLimitedError(DataApiError):
    """Too many requests in the window (HTTP 429 / code 42000)."""

    retryable = True


class TransientError(DataApiError):
    """Server error (5xx, code 10000), timeout or broken connection: may succeed later."""

    retryable = True


class BatchSizeError(ValueError):
    """Refused locally, before anything is sent: a batch is outside the endpoint's size limits."""


def redact(text: str, *secrets: str) -> str:
    """`text` with every non-empty secret replaced, cut to a readable length."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[:MAX_MESSAGE_CHARS] + "..."
    return text


def classify(
    http_status: int,
    code: int | None,
    server_message: str | None,
    *,
    endpoint: str,
) -> DataApiError:
    """The error class for a failed reply, decided by the Data API code first, then HTTP status."""
    error_class: type[DataApiError]
    if code == 42000 or http_status == 429:
        error_class = RateLimitedError
    elif (code is not None and 40000 <= code < 42000) or http_status in (401, 403):
        error_class = AuthenticationError
    elif code == 10000 or http_status >= 500:
        error_class = TransientError
    elif (code is not None and 20000 <= code < 40000) or 400 <= http_status < 500:
        error_class = DataApiValidationError
    else:
        error_class = DataApiError
    detail = f"code {code}" if code is not None else "no code"
    text = f"Data API {endpoint}: HTTP {http_status}, {detail}: {server_message or 'no message'}"
    return error_class(
        text, http_status=http_status, code=code, server_message=server_message, endpoint=endpoint
    )
