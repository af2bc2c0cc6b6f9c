"""httpx specifics shared by both clients: timeouts and turning replies into exchange inputs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from learnosity_core.dataapi.exchange import HttpReply, NetworkFailure, SendMark
from learnosity_core.dataapi.settings import DataApiSettings

# httpcore's trace event as a request's headers start to go out ("http11." or "http2." before it).
_HEADERS_STARTED = ".send_request_headers.started"


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


def mark_on_headers(send: SendMark) -> dict[str, Callable[[str, dict[str, Any]], None]]:
    """Request extensions that mark the send when the headers go out (sync transports)."""

    def trace(event: str, info: dict[str, Any]) -> None:
        if event.endswith(_HEADERS_STARTED):
            while (early := send.mark()) > 0:
                time.sleep(early)

    return {"trace": trace}


def amark_on_headers(send: SendMark) -> dict[str, Callable[[str, dict[str, Any]], Awaitable[None]]]:
    """Request extensions that mark the send when the headers go out (async transports)."""

    async def trace(event: str, info: dict[str, Any]) -> None:
        if event.endswith(_HEADERS_STARTED):
            while (early := send.mark()) > 0:
                await asyncio.sleep(early)

    return {"trace": trace}
