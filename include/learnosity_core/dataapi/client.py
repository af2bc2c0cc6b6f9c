"""Synchronous Data API client: pooled connections, paced, signed per attempt, retried.

Thread-safe: one client may be shared by the threads of a shard (httpx.Client is, and the
limiters are process-wide).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any

import httpx

from learnosity_core.dataapi import operations
from learnosity_core.dataapi.exchange import Call, Post, Reply, Wait, exchange
from learnosity_core.dataapi.limits import MAX_RESPONSES_PER_PAGE
from learnosity_core.dataapi.models import Envelope, Job, SessionRecord
from learnosity_core.dataapi.pacing import limiters_for
from learnosity_core.dataapi.retry import RetryPolicy
from learnosity_core.dataapi.settings import DataApiSettings
from learnosity_core.dataapi.transport import http_timeout, mark_on_headers, to_failure, to_reply


class DataApiClient:
    """The Data API operations the pipelines need, with typed results and typed errors."""

    def __init__(self, settings: DataApiSettings, http: httpx.Client | None = None) -> None:
        self.settings = settings
        self._http = http or httpx.Client(timeout=http_timeout(settings), follow_redirects=False)
        self._owns_http = http is None
        self._limiters = limiters_for(settings)
        self._policy = RetryPolicy.from_settings(settings)

    def __repr__(self) -> str:
        return f"DataApiClient({self.settings.base_url!r}, consumer_key={self.settings.consumer_key!r})"

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> DataApiClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _post(self, step: Post) -> Reply:
        try:
            response = self._http.post(
                step.url, content=step.body, headers=step.headers, extensions=mark_on_headers(step.send)
            )
            return to_reply(response)
        except httpx.TransportError as error:
            return to_failure(error)

    def _run(self, call: Call) -> Envelope:
        steps = exchange(call, self.settings, self._limiters[call.endpoint_class], self._policy)
        reply: Reply | None = None
        try:
            while True:
                step = steps.send(reply)
                if isinstance(step, Wait):
                    time.sleep(step.seconds)
                    reply = None
                else:
                    reply = self._post(step)
        except StopIteration as done:
            envelope: Envelope = done.value
            return envelope
        finally:
            steps.close()  # a post that raised gives back its unsent booking now, not at GC

    def get_session_template(
        self, *, activity_template_id: str | None = None, items: Sequence[str] | None = None
    ) -> dict[str, Any]:
        """The activity's session template (opaque); `DataApiValidationError` if there is none."""
        call = operations.template_call(activity_template_id, items)
        return operations.read_template(self._run(call), call)

    def submit_template_sessions(
        self,
        template: Mapping[str, Any],
        sessions: Sequence[Mapping[str, Any] | str],
        ignore_response_revisions: bool | None = None,
    ) -> str:
        """Queue up to 50 `from_template` sessions (mappings or JSON strings); returns the job reference."""
        call = operations.template_sessions_call(template, sessions, ignore_response_revisions)
        return operations.read_job_reference(self._run(call))

    def submit_failed_sessions(
        self, blobs: Sequence[str], ignore_response_revisions: bool | None = None
    ) -> str:
        """Queue up to 50 failed-submission base64 strings; returns the job reference."""
        call = operations.failed_sessions_call(blobs, ignore_response_revisions)
        return operations.read_job_reference(self._run(call))

    def get_jobs(self, references: Sequence[str]) -> list[Job]:
        """The jobs among `references` that the API knows, in any status, with their results."""
        query = operations.JobsQuery(references)
        while (call := query.next_call()) is not None:
            query.feed(call, self._run(call))
        return list(query.jobs.values())

    def iter_session_responses(
        self,
        *,
        session_ids: Sequence[str] | None = None,
        user_ids: Sequence[str] | None = None,
        activity_ids: Sequence[str] | None = None,
        limit: int = MAX_RESPONSES_PER_PAGE,
    ) -> Iterator[SessionRecord]:
        """Stored sessions matching the filters, page by page until an empty page."""
        query = operations.ResponsesQuery(
            session_ids=session_ids, user_ids=user_ids, activity_ids=activity_ids, limit=limit
        )
        while (call := query.next_call()) is not None:
            yield from query.feed(call, self._run(call))

    def ping(self) -> None:
        """One cheap signed request; raises the `DataApiError` that explains a bad connection."""
        self._run(operations.ping_call())
