"""One Data API call as a sans-I/O generator: pace, sign, send, read the reply, retry.

The generator yields `Wait` and `Post` steps and receives what the transport got back, so the
sync and async clients share every rule (pacing, fresh signature per attempt, error
classification, retry decision, logging) and differ only in how they sleep and post. Each
attempt books a start; the transport holds the request's headers until that start and tells the
limiter it is sent (`SendMark`) once they went, after any new connection opened: the server's
window sees the request no later than the limiter counts it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from pydantic import ValidationError

from learnosity_core.dataapi.errors import DataApiError, TransientError, classify, redact
from learnosity_core.dataapi.models import Envelope
from learnosity_core.dataapi.pacing import EndpointClass, Limiter
from learnosity_core.dataapi.retry import RetryPolicy
from learnosity_core.dataapi.settings import DataApiSettings
from learnosity_core.dataapi.signing import routing_headers, sign

log = logging.getLogger(__name__)
FORM_TYPE = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Call:
    """What to ask: endpoint path below the version, action and the request object."""

    endpoint: str
    action: str
    request: Mapping[str, Any] = field(default_factory=dict)

    @property
    def endpoint_class(self) -> EndpointClass:
        return EndpointClass.GET if self.action == "get" else EndpointClass.SET

    @property
    def name(self) -> str:
        return f"{self.action} {self.endpoint}"


@dataclass(frozen=True)
class Wait:
    seconds: float


@dataclass(eq=False)
class SendMark:
    """The booked start one `Post` spends: its headers wait for `ready()`, then it is `mark()`ed.

    Marked before the headers went (before the HTTP library opened a connection, or before a
    descheduled thread wrote them), a request reaches the server later than the limiter counts
    it, and a request booked a window after that count can land inside the server's window.
    """

    limiter: Limiter
    token: str
    start: float  # the booked start on `clock`
    clock: Callable[[], float] = time.monotonic
    marked: bool = False

    def ready(self) -> float:
        """Seconds the headers must still wait for the booked start (0.0: send them)."""
        return 0.0 if self.marked else max(0.0, self.start - self.clock())

    def mark(self) -> float:
        """Mark the send now, once the headers went; returns 0.0, or the seconds still to wait."""
        if self.marked:
            return 0.0
        early = self.limiter.mark_sent(self.token)
        self.marked = early <= 0
        return early


@dataclass(frozen=True)
class Post:
    """A signed form, already encoded, so no CPU time falls between the mark and the headers."""

    url: str
    body: bytes
    headers: dict[str, str]
    send: SendMark = field(compare=False, repr=False)


@dataclass(frozen=True)
class HttpReply:
    status: int
    body: bytes
    location: str | None = None


@dataclass(frozen=True)
class NetworkFailure:
    """The request never produced an HTTP reply (connect error, timeout, dropped connection)."""

    kind: str
    detail: str


Step = Wait | Post
Reply = HttpReply | NetworkFailure
Exchange = Generator[Step, Reply | None, Envelope]


def exchange(
    call: Call,
    settings: DataApiSettings,
    limiter: Limiter,
    policy: RetryPolicy,
    clock: Callable[[], float] = time.monotonic,
) -> Exchange:
    """Steps of one call; returns the successful envelope or raises the last `DataApiError`."""
    url = settings.url(call.endpoint)
    headers = {**routing_headers(settings, call.endpoint, call.action), "Content-Type": FORM_TYPE}
    secret = settings.consumer_secret.get_secret_value()
    attempt = 0
    while True:
        attempt += 1
        send = yield from _booked_start(limiter, clock)
        try:
            form = sign(settings, call.action, call.request)
            body = urlencode(form).encode("ascii")
            reply = yield Post(url, body, headers, send)
            yield from _settle(send, reply)
        except BaseException:
            if not send.marked:
                _release(limiter, send.token)
            raise
        try:
            envelope = read_reply(reply, call, secret, form["security"])
        except DataApiError as error:
            wait = policy.delay_before_retry(error, attempt)
            if wait is None:
                raise
            log.warning(
                "Data API %s attempt %d of %d failed (%s); retrying in %.1f s",
                call.name,
                attempt,
                policy.max_attempts,
                error,
                wait,
            )
            yield Wait(wait)
            continue
        log.debug("Data API %s succeeded on attempt %d", call.name, attempt)
        return envelope


def _booked_start(limiter: Limiter, clock: Callable[[], float]) -> Generator[Wait, Reply | None, SendMark]:
    """Waits until the limiter grants a start and for that start; returns the booking to send.

    The start is kept on the local clock too: the limiter's may be another machine's (Redis), but a
    delay lasts as long on both, so the headers' last check needs no round trip."""
    while True:
        booking = limiter.reserve()
        if booking.token is None:
            yield Wait(booking.delay)
            continue
        send = SendMark(limiter, booking.token, clock() + booking.delay, clock)
        if booking.delay > 0:
            try:
                yield Wait(booking.delay)
            except BaseException:  # also GeneratorExit: the caller was cancelled while waiting
                _release(limiter, booking.token)
                raise
        return send


def _settle(send: SendMark, reply: Reply | None) -> Generator[Wait, Reply | None, None]:
    """Account for a post the transport did not mark: a reply means it went (a transport without
    httpcore's trace events), marked late, which only spaces later sends further; a network failure
    before the headers means it never went, so the booking is given back."""
    if send.marked:
        return
    if isinstance(reply, HttpReply):
        while (early := send.mark()) > 0:
            yield Wait(early)
    else:
        _release(send.limiter, send.token)


def _release(limiter: Limiter, token: str) -> None:
    """Give back a booking that will not be sent, so it does not hold a slot until it goes stale."""
    try:
        limiter.release(token)
    except Exception:  # e.g. Redis unreachable: the stale cap frees it; keep the original error
        log.debug("could not release a rate-limit booking", exc_info=True)


def read_reply(reply: Reply | None, call: Call, *secrets: str) -> Envelope:
    """The envelope of a successful reply; any failure as the matching `DataApiError`."""
    if reply is None:
        raise RuntimeError("the transport sent no reply for a Post step")
    if isinstance(reply, NetworkFailure):
        detail = redact(reply.detail, *secrets)
        raise TransientError(f"Data API {call.name}: {reply.kind}: {detail}", endpoint=call.name)
    if 300 <= reply.status < 400:
        raise DataApiError(
            f"Data API {call.name}: HTTP {reply.status} redirect to {reply.location}; "
            "set the base URL to the final https address (a redirected POST loses its body)",
            http_status=reply.status,
            endpoint=call.name,
        )
    text = reply.body.decode("utf-8", errors="replace")
    try:
        envelope = Envelope.model_validate(json.loads(text))
    except (ValueError, ValidationError):
        snippet = redact(" ".join(text.split()), *secrets)[:200]
        problem = f"reply is not a Data API envelope: {snippet!r}"
        raise classify(reply.status, None, problem, endpoint=call.name) from None
    if 200 <= reply.status < 300 and envelope.meta.status:
        return envelope
    message = redact(envelope.meta.message, *secrets) if envelope.meta.message else None
    raise classify(reply.status, envelope.meta.code, message, endpoint=call.name)
