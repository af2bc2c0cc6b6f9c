"""Both clients count a send when its headers go out, not while a new connection opens.

A far server (TCP and TLS to the real API) is stood in for by an httpcore network backend whose
connections take `CONNECT_S` to open; the emulator behind it is real, over loopback.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpcore
import httpx
import pytest

from learnosity_core.dataapi import AsyncDataApiClient, DataApiClient, DataApiSettings, TransientError
from learnosity_core.dataapi.pacing import EndpointClass, limiters_for
from learnosity_devtools.emulator import EmulatorServer

CONNECT_S = 0.4
WINDOW_S = 2.0


class SlowConnect(httpcore.SyncBackend):
    def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        time.sleep(CONNECT_S)
        return super().connect_tcp(*args, **kwargs)


class AsyncSlowConnect(httpcore.AnyIOBackend):
    async def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        await asyncio.sleep(CONNECT_S)
        return await super().connect_tcp(*args, **kwargs)


def one_get_per_window(server: EmulatorServer, settings_for: Any, **overrides: Any) -> DataApiSettings:
    """A GET budget of one per window, on a new emulator's own limiter."""
    return settings_for(
        server, get_requests_per_window=1, window_s=WINDOW_S, window_margin_s=0.0, **overrides
    )


def counted_send(settings: DataApiSettings) -> float:
    """When the GET limiter counted the last send, on its clock: its next start is a window later.

    Never earlier than the real mark, as the booking is read after the call returned."""
    delay = limiters_for(settings)[EndpointClass.GET].reserve().delay
    return time.monotonic() + delay - WINDOW_S


def test_a_sync_send_is_counted_once_the_connection_is_open(
    make_emulator: Callable[..., EmulatorServer], settings_for: Any
) -> None:
    settings = one_get_per_window(make_emulator(window_s=WINDOW_S), settings_for)
    transport = httpx.HTTPTransport()
    transport._pool = httpcore.ConnectionPool(network_backend=SlowConnect())  # httpx has no setting for it
    with DataApiClient(settings, http=httpx.Client(transport=transport)) as client:
        asked = time.monotonic()
        client.ping()
    assert counted_send(settings) - asked >= CONNECT_S


async def test_an_async_send_is_counted_once_the_connection_is_open(
    make_emulator: Callable[..., EmulatorServer], settings_for: Any
) -> None:
    settings = one_get_per_window(make_emulator(window_s=WINDOW_S), settings_for)
    transport = httpx.AsyncHTTPTransport()
    transport._pool = httpcore.AsyncConnectionPool(network_backend=AsyncSlowConnect())
    async with AsyncDataApiClient(settings, http=httpx.AsyncClient(transport=transport)) as client:
        asked = time.monotonic()
        await client.ping()
    assert counted_send(settings) - asked >= CONNECT_S


def test_a_refused_connection_holds_no_slot(
    make_emulator: Callable[..., EmulatorServer], settings_for: Any
) -> None:
    server = make_emulator(window_s=WINDOW_S)
    settings = one_get_per_window(server, settings_for, max_attempts=1)
    server.stop()  # nothing listens there now
    with DataApiClient(settings) as client, pytest.raises(TransientError, match="ConnectError"):
        client.ping()
    assert limiters_for(settings)[EndpointClass.GET].reserve().delay == 0.0
