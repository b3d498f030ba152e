"""Result cache: an in-process LRU bounded in bytes, optionally in front of Redis.

Keys are content addresses (see :mod:`service.compute`); values are result dicts of
JSON-able data and numpy arrays. Redis stores them in the binary :mod:`service.codec` form
with a TTL. Redis is an accelerator, never a dependency: any Redis failure counts as a miss
(or a skipped store), and a circuit breaker then keeps requests off Redis for an
exponentially growing pause (0.5 s doubling to 30 s), so a dead Redis costs one short
timeout per pause, not one per request. After the pause one call probes it (readiness
checks probe too) and the first success closes the breaker: reconnection is automatic.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Literal

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from service.codec import CodecError, decode, encode, freeze, size_of

Backend = Literal["memory", "redis"]
REDIS_MAX_VALUE_BYTES = 64 * 1024 * 1024  # larger results stay in process memory only
logger = logging.getLogger("deepkernel.cache")


class HitCounter:
    """Hits and misses of one backend."""

    def __init__(self) -> None:
        self.hits = 0
        self.misses = 0

    def count(self, hit: bool) -> None:
        if hit:
            self.hits += 1
        else:
            self.misses += 1


class MemoryCache:
    """Least-recently-used map bounded by the summed :func:`size_of` of its values."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self.counter = HitCounter()
        self._entries: OrderedDict[str, tuple[dict[str, Any], int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def get(self, key: str) -> dict[str, Any] | None:
        entry = self._entries.get(key)
        self.counter.count(entry is not None)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        return entry[0]

    def set(self, key: str, value: dict[str, Any]) -> None:
        """Store ``value`` (its arrays made read-only), evicting the least recently used."""
        size = size_of(value)
        if size > self.max_bytes:
            return
        self.discard(key)
        while self.bytes + size > self.max_bytes:
            _, (_, evicted) = self._entries.popitem(last=False)
            self.bytes -= evicted
        self._entries[key] = (freeze(value), size)
        self.bytes += size

    def discard(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self.bytes -= entry[1]

    def status(self) -> dict[str, Any]:
        return {"entries": len(self._entries), "bytes": self.bytes, "max_bytes": self.max_bytes}


class CircuitBreaker:
    """Closed until a failure; then open for ``base · 2^(failures-1)`` s (at most ``cap``)."""

    def __init__(
        self, base: float = 0.5, cap: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.base = base
        self.cap = cap
        self.failures = 0
        self._clock = clock
        self._open_until = 0.0

    @property
    def closed(self) -> bool:
        return self.failures == 0

    def allow(self) -> bool:
        """May a call go through? After a pause, lets one probe through and waits again."""
        if self.failures == 0:
            return True
        now = self._clock()
        if now < self._open_until:
            return False
        self._open_until = now + self._pause()  # other callers wait while this one probes
        return True

    def success(self) -> None:
        self.failures = 0
        self._open_until = 0.0

    def failure(self) -> None:
        self.failures += 1
        self._open_until = self._clock() + self._pause()

    def _pause(self) -> float:
        return float(min(self.cap, self.base * 2 ** max(0, self.failures - 1)))


class RedisCache:
    """Redis under ``prefix``, values in :mod:`service.codec` form with a TTL; never raises."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        ttl_seconds: int,
        breaker: CircuitBreaker | None = None,
        connect_timeout: float = 0.25,
        socket_timeout: float = 1.0,
    ) -> None:
        self.prefix = prefix
        self.ttl_seconds = ttl_seconds
        self.breaker = breaker or CircuitBreaker()
        self.counter = HitCounter()
        self.errors = 0
        self.client = Redis.from_url(
            url,
            socket_connect_timeout=connect_timeout,
            socket_timeout=socket_timeout,
            retry=Retry(NoBackoff(), 0),
            retry_on_timeout=False,
        )

    async def get(self, key: str) -> dict[str, Any] | None:
        if not self.breaker.allow():
            return None
        try:
            data = await self.client.get(self.prefix + key)
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed("get", exc)
            return None
        self.breaker.success()
        self.counter.count(data is not None)
        if data is None:
            return None
        try:
            return decode(data if isinstance(data, bytes) else data.encode())
        except CodecError as exc:
            logger.warning("unreadable cache entry dropped", extra={"key": key, "error": str(exc)})
            return None

    async def set(self, key: str, value: dict[str, Any]) -> None:
        if not self.breaker.allow():
            return
        data = encode(value)
        if len(data) > REDIS_MAX_VALUE_BYTES:
            return
        try:
            await self.client.set(self.prefix + key, data, ex=self.ttl_seconds)
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed("set", exc)
            return
        self.breaker.success()

    async def check(self) -> bool:
        """Probe Redis now if the breaker allows; True when Redis is known to answer."""
        if self.breaker.allow():
            try:
                await self.client.ping()
            except (RedisError, OSError, TimeoutError) as exc:
                self._failed("ping", exc)
            else:
                self.breaker.success()
        return self.breaker.closed

    async def close(self) -> None:
        await self.client.aclose()

    def _failed(self, operation: str, exc: BaseException) -> None:
        """Count a failed call and open the breaker; a cancelled caller is cancelled still.

        redis-py bounds its reads with ``asyncio.timeout``, which can turn a cancellation of
        the calling task into a ``TimeoutError``; taken for a Redis failure, it was swallowed
        and the task ran on (a job's heartbeat then outlived its job and hung shutdown).
        """
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise asyncio.CancelledError from exc
        self.errors += 1
        was_closed = self.breaker.closed
        self.breaker.failure()
        if was_closed:
            logger.warning(
                "redis unavailable; computing without it",
                extra={"operation": operation, "error": repr(exc)},
            )

    def status(self) -> dict[str, Any]:
        return {
            "state": "ok" if self.breaker.closed else "unavailable",
            "consecutive_failures": self.breaker.failures,
            "ttl_seconds": self.ttl_seconds,
        }


class ResultCache:
    """The LRU in front, Redis (if configured) behind it."""

    def __init__(self, memory: MemoryCache, redis: RedisCache | None = None) -> None:
        self.memory = memory
        self.redis = redis

    async def get(self, key: str) -> tuple[dict[str, Any] | None, Backend | None]:
        """The cached value and the backend that had it, or ``(None, None)``."""
        value = self.memory.get(key)
        if value is not None:
            return value, "memory"
        if self.redis is not None:
            value = await self.redis.get(key)
            if value is not None:
                self.memory.set(key, value)
                return value, "redis"
        return None, None

    async def set(self, key: str, value: dict[str, Any]) -> None:
        self.memory.set(key, value)
        if self.redis is not None:
            await self.redis.set(key, value)

    async def check(self) -> dict[str, Any]:
        """State for /readyz: ``status`` is ``ok``, or ``degraded`` while Redis is away."""
        redis_ok = True if self.redis is None else await self.redis.check()
        return {
            "status": "ok" if redis_ok else "degraded",
            "memory": self.memory.status(),
            "redis": None if self.redis is None else self.redis.status(),
        }

    def counters(self) -> dict[str, HitCounter]:
        """Hit counters by backend, for /metrics."""
        found = {"memory": self.memory.counter}
        if self.redis is not None:
            found["redis"] = self.redis.counter
        return found

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.close()
