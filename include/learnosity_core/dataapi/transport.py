"""httpx specifics shared by both clients: timeouts and turning replies into exchange inputs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from learnosity_core.dataapi.exchange import HttpReply, NetworkFailure, SendMark
from learnosity_core.dataapi.settings import DataApiSettings

# httpcore's trace events around writing a request's headers ("http11." or "http2." before them).
_HEADERS_STARTED = ".send_request_headers.started"
_HEADERS_SENT = ".send_request_headers.complete"


def http_timeout(settings: DataApiSettings) -> httpx.Timeout:
    """Connect and read bounded separately: a dead host fails fast, a slow write still has time."""
    return httpx.Timeout(
        connect=settings.connect_timeout_s,
        read=settings.read_timeout_s,
        write=settings.read_timeout_s,
        pool=settings.read_timeout_s,
    )


def to_reply(response: httpx.Response) -> HttpReply:
    return HttpReply(response.status_code, response.content, response.headers.get("location"))


def to_failure(error: httpx.TransportError) -> NetworkFailure:
    return NetworkFailure(type(error).__name__, str(error) or "no detail")


def _step(send: SendMark, event: str) -> Callable[[], float] | None:
    """What an httpcore trace event asks of the booking: wait for its start, or mark it sent."""
    if event.endswith(_HEADERS_STARTED):
        return send.ready
    if event.endswith(_HEADERS_SENT):
        return send.mark
    return None


def mark_on_headers(send: SendMark) -> dict[str, Callable[[str, dict[str, Any]], None]]:
    """Request extensions that hold the headers for the booked start and mark them sent (sync)."""

    def trace(event: str, info: dict[str, Any]) -> None:
        if (step := _step(send, event)) is not None:
            while (left := step()) > 0:
                time.sleep(left)

    return {"trace": trace}


def amark_on_headers(send: SendMark) -> dict[str, Callable[[str, dict[str, Any]], Awaitable[None]]]:
    """Request extensions that hold the headers for the booked start and mark them sent (async)."""

    async def trace(event: str, info: dict[str, Any]) -> None:
        if (step := _step(send, event)) is not None:
            while (left := step()) > 0:
                await asyncio.sleep(left)

    return {"trace": trace}
