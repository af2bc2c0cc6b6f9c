"""Pacing so that all threads, event loops and (optionally) processes together stay under the limit.

The Data API counts request starts per consumer in a sliding window (50 SETs on `sessions`,
about 1000 GETs per 5 s). Every client in the process that talks to the same base URL with the
same consumer key shares one limiter per endpoint class, so concurrent threads of a shard and
the async poller cannot add up to more than the limit. With `rate_limiter_url` set (a Redis
URL), the bookings live in Redis instead: every process on every worker shares one budget, so
submitters need no fixed share and never burst together past the limit.

A booked start is only a promise: a thread on a loaded machine may wake late, and the server
counts the real send. So a booking stays *pending* until the caller marks it *sent*, once the
request went (never before its booked start), and only then is its time a send instant on the
limiter's clock: never earlier than the real send, so no window the server sees can hold more
than the limiter allowed. Pending bookings count as if they were in every window, which is what
makes 429s impossible by construction rather than unlikely; a pending booking not sent within
`stale_after_s` of its start is presumed dead (its process crashed) and stops counting.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from learnosity_core.dataapi.settings import DataApiSettings

# How long a caller refused a booking waits before asking again, at least.
ASK_AGAIN_S = 0.05
# A booking still pending this long after its start and window is presumed dead.
STALE_AFTER_S = 60.0


@dataclass(frozen=True)
class Booking:
    """A start booked `delay` seconds from now; without a token none was booked: ask again then."""

    delay: float
    token: str | None


class Limiter(Protocol):
    """Books request starts, and learns when each booked request is really sent."""

    def reserve(self) -> Booking: ...

    def mark_sent(self, token: str) -> float:
        """Call once the request went; returns 0.0, or the seconds still to wait (not marked)."""
        ...

    def release(self, token: str) -> None:
        """Give back a booking that will never be sent."""
        ...


class EndpointClass(StrEnum):
    """Rate-limit buckets: writes to `sessions` versus every read."""

    SET = "set"
    GET = "get"


# Why no window can hold limit + 1 sends: of any limit + 1 requests, take the one booked last. Then at
# most P of the other `limit` were pending, so at least k = limit - P had been sent (or left the window);
# its send (never before its start) is >= window after the k-th latest send, no earlier than one of theirs.
class SlidingWindowLimiter:
    """At most `limit` request sends within any `window_s` seconds of this process.

    `reserve()` never sleeps: it books the earliest start it can vouch for and returns how long
    the caller must wait for it, so threads use `time.sleep` and coroutines `asyncio.sleep`.
    """

    def __init__(
        self,
        limit: int,
        window_s: float,
        clock: Callable[[], float] = time.monotonic,
        stale_after_s: float = STALE_AFTER_S,
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._sent: deque[float] = deque()  # send instants, in time order
        self._pending: dict[str, float] = {}  # token -> booked start
        self.stale_after_s = stale_after_s
        self.limit = 0
        self.window_s = 0.0
        self.configure(limit, window_s)

    def configure(self, limit: int, window_s: float) -> None:
        """Change the budget (e.g. a shard's share); bookings already made stay."""
        if limit < 1 or window_s <= 0:
            raise ValueError(f"need limit >= 1 and window_s > 0, got {limit}, {window_s}")
        with self._lock:
            self.limit = limit
            self.window_s = window_s

    def reserve(self) -> Booking:
        """Book the earliest safe start, or none while `limit` bookings are still pending."""
        with self._lock:
            now = self._clock()
            while self._sent and self._sent[0] <= now - self.window_s:
                self._sent.popleft()
            dead = now - self.window_s - self.stale_after_s
            for token in [t for t, start in self._pending.items() if start <= dead]:
                del self._pending[token]
            if len(self._pending) >= self.limit:
                # Nothing can free a slot before the earliest pending start is sent.
                return Booking(max(ASK_AGAIN_S, min(self._pending.values()) - now), None)
            k = self.limit - len(self._pending)
            start = now
            if len(self._sent) >= k:
                start = max(now, self._sent[-k] + self.window_s)
            token = uuid.uuid4().hex
            self._pending[token] = start
            return Booking(start - now, token)

    def mark_sent(self, token: str) -> float:
        """Record the send at the clock's now; refuse (returning the seconds left) before the booked start."""
        with self._lock:
            now = self._clock()
            start = self._pending.get(token)
            if start is not None and start > now:
                return start - now
            # An unknown token (released, or dropped as stale) still sends: count it.
            self._pending.pop(token, None)
            self._sent.append(now)
            return 0.0

    def release(self, token: str) -> None:
        with self._lock:
            self._pending.pop(token, None)


_registry: dict[tuple[str, str, EndpointClass], SlidingWindowLimiter] = {}
_registry_lock = threading.Lock()


def shared_limiter(
    base_url: str, consumer_key: str, endpoint_class: EndpointClass, limit: int, window_s: float
) -> SlidingWindowLimiter:
    """The process's limiter for this consumer and endpoint class, set to the given budget.

    The latest client's budget wins, so a task that lowers its share takes effect at once.
    """
    key = (base_url, consumer_key, endpoint_class)
    with _registry_lock:
        limiter = _registry.get(key)
        if limiter is None:
            limiter = _registry[key] = SlidingWindowLimiter(limit, window_s)
            return limiter
    limiter.configure(limit, window_s)
    return limiter


# The same rules as `SlidingWindowLimiter`, atomic across processes and on Redis's clock (so the
# processes' clocks never matter). KEYS[1]: sorted set of send instants; KEYS[2]: pending bookings
# scored by booked start. Members are the bookings' tokens.
_RESERVE_SCRIPT = """
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local stale = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window - stale)
local pending = redis.call('ZCARD', KEYS[2])
if pending >= limit then
  local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  return {0, tostring(math.max(tonumber(ARGV[4]), tonumber(first[2]) - now))}
end
local k = limit - pending
local sent = redis.call('ZCARD', KEYS[1])
local start = now
if sent >= k then
  local decisive = redis.call('ZRANGE', KEYS[1], sent - k, sent - k, 'WITHSCORES')
  start = math.max(now, tonumber(decisive[2]) + window)
end
redis.call('ZADD', KEYS[2], start, ARGV[5])
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', KEYS[2], math.ceil((tonumber(last[2]) - now + window + stale) * 1000) + 1000)
return {1, tostring(start - now)}
"""

_MARK_SENT_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local start = redis.call('ZSCORE', KEYS[2], ARGV[1])
if start and tonumber(start) > now then
  return tostring(tonumber(start) - now)
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2]) * 1000) + 1000)
return '0'
"""


class RedisWindowLimiter:
    """At most `limit` request sends within any `window_s` seconds across every process that books
    in the same Redis key (one per consumer and endpoint class): sends in `key`, pending bookings in
    `key:pending`."""

    def __init__(
        self,
        redis_client: Any,
        key: str,
        limit: int,
        window_s: float,
        stale_after_s: float = STALE_AFTER_S,
    ) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError(f"need limit >= 1 and window_s > 0, got {limit}, {window_s}")
        self.key = key
        self.pending_key = f"{key}:pending"
        self.limit = limit
        self.window_s = window_s
        self.stale_after_s = stale_after_s
        self._redis = redis_client
        self._reserve = redis_client.register_script(_RESERVE_SCRIPT)
        self._mark_sent = redis_client.register_script(_MARK_SENT_SCRIPT)

    def reserve(self) -> Booking:
        """Book the earliest safe start, or none while `limit` bookings are still pending."""
        token = uuid.uuid4().hex
        args = [self.limit, repr(self.window_s), repr(self.stale_after_s), repr(ASK_AGAIN_S), token]
        granted, delay = self._reserve(keys=[self.key, self.pending_key], args=args)
        return Booking(max(0.0, float(delay)), token if int(granted) else None)

    def mark_sent(self, token: str) -> float:
        """Record the send at Redis's now; refuse (returning the seconds left) before the booked start."""
        left = self._mark_sent(keys=[self.key, self.pending_key], args=[token, repr(self.window_s)])
        return max(0.0, float(left))

    def release(self, token: str) -> None:
        self._redis.zrem(self.pending_key, token)


_redis_clients: dict[str, Any] = {}


def _redis_client(url: str) -> Any:
    """One connection pool per Redis URL and process (redis-py clients are thread-safe)."""
    import redis

    with _registry_lock:
        client = _redis_clients.get(url)
        if client is None:
            client = _redis_clients[url] = redis.Redis.from_url(url, socket_timeout=10)
        return client


def redis_key(base_url: str, consumer_key: str, endpoint_class: EndpointClass) -> str:
    """The consumer's key of sends (pending bookings: the same plus `:pending`): a digest, so the
    key names no consumer in Redis listings."""
    digest = hashlib.sha256(f"{base_url}\n{consumer_key}".encode()).hexdigest()[:32]
    return f"learnosity:rate:{digest}:{endpoint_class}"


def limiters_for(settings: DataApiSettings) -> dict[EndpointClass, Limiter]:
    """The shared SET and GET limiters for a client with these settings: across processes in Redis
    when `rate_limiter_url` is set, else this process's own."""
    window = settings.window_s + settings.window_margin_s
    budgets = {
        EndpointClass.SET: settings.set_requests_per_window,
        EndpointClass.GET: settings.get_requests_per_window,
    }
    key = (settings.base_url, settings.consumer_key)
    if settings.rate_limiter_url is not None:
        client = _redis_client(settings.rate_limiter_url.get_secret_value())
        return {
            cls: RedisWindowLimiter(client, redis_key(*key, cls), limit, window)
            for cls, limit in budgets.items()
        }
    return {cls: shared_limiter(*key, cls, limit, window) for cls, limit in budgets.items()}
