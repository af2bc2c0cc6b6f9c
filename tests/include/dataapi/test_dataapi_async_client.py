"""The async client for triggers: same operations and retries, and the event loop keeps running."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from learnosity_core.dataapi import (
    AsyncDataApiClient,
    AuthenticationError,
    DataApiClient,
    DataApiSettings,
    DataApiValidationError,
    JobStatus,
)
from learnosity_core.dataapi.pacing import EndpointClass
from learnosity_devtools.emulator import EmulatorServer, Faults

Settings = Callable[..., DataApiSettings]


async def test_jobs_template_and_ping(
    emulator: EmulatorServer,
    settings_for: Settings,
    template: dict[str, Any],
    new_session: Callable[..., Any],
) -> None:
    settings = settings_for(emulator)
    with DataApiClient(settings) as sync_client:
        reference = sync_client.submit_template_sessions(template, [new_session()])
    async with AsyncDataApiClient(settings) as client:
        await client.ping()
        assert await client.get_session_template(activity_template_id="demo-biology-cells-u3") == template
        for _ in range(200):
            (job,) = await client.get_jobs([reference])
            if job.status.is_terminal:
                break
            await asyncio.sleep(0.02)
    assert job.status is JobStatus.COMPLETED
    assert job.data is not None and len(job.data["sessions_stored"]) == 1


async def test_errors_are_typed(emulator: EmulatorServer, settings_for: Settings) -> None:
    async with AsyncDataApiClient(settings_for(emulator)) as client:
        with pytest.raises(DataApiValidationError) as info:
            await client.get_session_template(activity_template_id="no-such-activity")
    assert info.value.code == 20013
    async with AsyncDataApiClient(settings_for(emulator, consumer_secret="wrong")) as client:
        with pytest.raises(AuthenticationError):
            await client.ping()


async def test_rate_limit_wait_does_not_block_the_loop(
    emulator: EmulatorServer, settings_for: Settings
) -> None:
    emulator.set_faults(Faults(burst_429=1))
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    background = asyncio.create_task(ticker())
    async with AsyncDataApiClient(settings_for(emulator, window_s=0.3, window_margin_s=0.0)) as client:
        await client.ping()
    background.cancel()
    assert emulator.stats()["requests"]["get /jobs"] == {"429": 1, "200": 1}
    assert ticks >= 10  # the loop kept running through the >= 0.3 s wait


def test_sync_and_async_clients_share_the_limiters(emulator: EmulatorServer, settings_for: Settings) -> None:
    settings = settings_for(emulator)
    sync_client, async_client = DataApiClient(settings), AsyncDataApiClient(settings)
    for endpoint_class in EndpointClass:
        assert sync_client._limiters[endpoint_class] is async_client._limiters[endpoint_class]
    sync_client.close()
