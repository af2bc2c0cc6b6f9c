"""Pacing so that all threads, event loops and (optionally) processes together stay under the limit.

The Data API counts request starts per consumer in a sliding window (50 SETs on `sessions`,
about 1000 GETs per 5 s). Every client in the process that talks to the same base URL with the
same consumer key shares one limiter per endpoint class, so concurrent threads of a shard and
the async poller cannot add up to more than the limit. With `rate_limiter_url` set (a Redis
URL), the bookings live in Redis instead: every process on every worker shares one budget, so
submitters need no fixed share and never burst together past the limit.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from enum import StrEnum
from typing import Any, Protocol

from learnosity_core.dataapi.settings import DataApiSettings


class Limiter(Protocol):
    """Books request starts: `reserve()` returns the seconds to wait before starting one."""

    def reserve(self) -> float: ...


class EndpointClass(StrEnum):
    """Rate-limit buckets: writes to `sessions` versus every read."""

    SET = "set"
    GET = "get"


class SlidingWindowLimiter:
    """At most `limit` request starts within any `window_s` seconds.

    `reserve()` never sleeps: it books the earliest free start time and returns how long the
    caller must wait for it, so threads use `time.sleep` and coroutines `asyncio.sleep`.
    """

    def __init__(self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._starts: deque[float] = deque()
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

    def reserve(self) -> float:
        """Book the next start; return the seconds to wait before starting the request."""
        with self._lock:
            now = self._clock()
            while self._starts and self._starts[0] <= now - self.window_s:
                self._starts.popleft()
            start = now
            if len(self._starts) >= self.limit:
                # Bookings are in time order, so the limit-th latest one decides when a slot frees.
                start = max(now, self._starts[-self.limit] + self.window_s)
            self._starts.append(start)
            return start - now


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


# Books the next start in a sorted set of start times, atomically, on Redis's clock (so the
# processes' clocks never matter): the same rule as `SlidingWindowLimiter.reserve`.
_RESERVE_SCRIPT = """
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local start = now
local booked = redis.call('ZCARD', KEYS[1])
if booked >= limit then
  local decisive = redis.call('ZRANGE', KEYS[1], booked - limit, booked - limit, 'WITHSCORES')
  start = math.max(now, tonumber(decisive[2]) + window)
end
redis.call('ZADD', KEYS[1], start, ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.ceil((start - now + window) * 1000) + 1000)
return tostring(start - now)
"""


class RedisWindowLimiter:
    """At most `limit` request starts within any `window_s` seconds across every process that
    books in the same Redis key (one key per consumer and endpoint class)."""

    def __init__(self, redis_client: Any, key: str, limit: int, window_s: float) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError(f"need limit >= 1 and window_s > 0, got {limit}, {window_s}")
        self.key = key
        self.limit = limit
        self.window_s = window_s
        self._script = redis_client.register_script(_RESERVE_SCRIPT)

    def reserve(self) -> float:
        """Book the next start; return the seconds to wait before starting the request."""
        delay = self._script(keys=[self.key], args=[self.limit, repr(self.window_s), uuid.uuid4().hex])
        return max(0.0, float(delay))


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
    """The consumer's booking key: a digest, so the key names no consumer in Redis listings."""
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
