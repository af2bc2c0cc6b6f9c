"""httpx specifics shared by both clients: timeouts and turning replies into exchange inputs."""

from __future__ import annotations

import httpx

from learnosity_core.dataapi.exchange import HttpReply, NetworkFailure
from learnosity_core.dataapi.settings import DataApiSettings


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
