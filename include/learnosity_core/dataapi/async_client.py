"""Asynchronous Data API client for triggers: the same rules, never blocking the event loop.

Waits (pacing, backoff) are `asyncio.sleep`; signing is CPU-only and runs inline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import httpx

from learnosity_core.dataapi import operations
from learnosity_core.dataapi.exchange import Call, Post, Reply, Wait, exchange
from learnosity_core.dataapi.models import Envelope, Job
from learnosity_core.dataapi.pacing import limiters_for
from learnosity_core.dataapi.retry import RetryPolicy
from learnosity_core.dataapi.settings import DataApiSettings
from learnosity_core.dataapi.transport import amark_on_headers, http_timeout, to_failure, to_reply


class AsyncDataApiClient:
    """The read operations a trigger needs, sharing the process-wide limiters with sync clients."""

    def __init__(self, settings: DataApiSettings, http: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self._http = http or httpx.AsyncClient(timeout=http_timeout(settings), follow_redirects=False)
        self._owns_http = http is None
        self._limiters = limiters_for(settings)
        self._policy = RetryPolicy.from_settings(settings)

    def __repr__(self) -> str:
        return f"AsyncDataApiClient({self.settings.base_url!r}, consumer_key={self.settings.consumer_key!r})"

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncDataApiClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _post(self, step: Post) -> Reply:
        try:
            response = await self._http.post(
                step.url, content=step.body, headers=step.headers, extensions=amark_on_headers(step.send)
            )
            return to_reply(response)
        except httpx.TransportError as error:
            return to_failure(error)

    async def _run(self, call: Call) -> Envelope:
        steps = exchange(call, self.settings, self._limiters[call.endpoint_class], self._policy)
        reply: Reply | None = None
        try:
            while True:
                step = steps.send(reply)
                if isinstance(step, Wait):
                    await asyncio.sleep(step.seconds)
                    reply = None
                else:
                    reply = await self._post(step)
        except StopIteration as done:
            envelope: Envelope = done.value
            return envelope
        finally:
            steps.close()  # a post that raised gives back its unsent booking now, not at GC

    async def get_session_template(
        self, *, activity_template_id: str | None = None, items: Sequence[str] | None = None
    ) -> dict[str, Any]:
        call = operations.template_call(activity_template_id, items)
        return operations.read_template(await self._run(call), call)

    async def get_jobs(self, references: Sequence[str]) -> list[Job]:
        query = operations.JobsQuery(references)
        while (call := query.next_call()) is not None:
            query.feed(call, await self._run(call))
        return list(query.jobs.values())

    async def ping(self) -> None:
        await self._run(operations.ping_call())
