"""The service layer's one entry point: cache lookup, then computation in the worker pool.

A request is addressed by its content: the SHA-256 of ``ALGORITHM_VERSION`` (a digest of the
sources that compute results), the kind and the
canonical JSON of the request (keys sorted; each numpy array replaced by its dtype, shape and
the SHA-256 of its bytes). Identical requests therefore share one cache entry, and while one
is being computed, identical concurrent requests wait for that computation instead of
starting their own (single flight).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

import core
from core.numba_cache import source_digest
from service.cache import ResultCache
from service.metrics import Metrics
from service.pool import ComputeBackend, ProgressCallback

#: what computes a result: the numerics, and the service's assembly and figures of them
RESULT_SOURCES = (
    Path(core.__file__).parent,
    Path(__file__).with_name("tasks.py"),
    Path(__file__).with_name("figures.py"),
)


ALGORITHM_VERSION = source_digest(RESULT_SOURCES)
"""Part of every cache key and job id: a change to the code that computes results makes old
cache entries stop matching, without anyone having to remember to bump a number."""


@dataclass(frozen=True)
class ComputeOutcome:
    """A result dict (JSON-able values or numpy arrays) and whether the cache served it."""

    result: dict[str, Any]
    cache: Literal["hit", "miss"]


def _canonical(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        digest = hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()
        return {"__ndarray__": [value.dtype.str, list(value.shape), digest]}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def cache_key(kind: str, request: Mapping[str, Any]) -> str:
    """The content address of ``request`` for ``kind``."""
    text = json.dumps(_canonical(request), sort_keys=True, separators=(",", ":"), allow_nan=False)
    digest = hashlib.sha256(f"{ALGORITHM_VERSION}\0{kind}\0{text}".encode()).hexdigest()
    return f"{kind}:{digest}"


@dataclass(eq=False)
class _Flight:
    """One computation in progress and the callers waiting for it."""

    task: asyncio.Task[dict[str, Any]] | None = None
    listeners: list[ProgressCallback] = field(default_factory=list)
    waiters: int = 0

    def report(self, fraction: float) -> None:
        for listener in list(self.listeners):
            listener(fraction)


_DEFAULT: Any = object()


class ComputeService:
    """Cache-then-compute with single flight. ``timeout`` is the default deadline in seconds."""

    def __init__(
        self,
        backend: ComputeBackend,
        cache: ResultCache,
        *,
        timeout: float | None,
        metrics: Metrics | None = None,
    ) -> None:
        self.backend = backend
        self.cache = cache
        self.timeout = timeout
        self.metrics = metrics
        self._flights: dict[str, _Flight] = {}

    async def run(
        self,
        kind: str,
        request: Mapping[str, Any],
        *,
        progress: ProgressCallback | None = None,
        timeout: float | None = _DEFAULT,
    ) -> ComputeOutcome:
        """The result of ``service.tasks.execute(kind, request)``, from the cache if there.

        Core errors propagate as raised in the worker; pool failures raise
        :class:`service.errors.ServiceError` subclasses. ``progress`` gets fractions in [0, 1].
        """
        key = cache_key(kind, request)
        flight = self._flights.get(key)
        if flight is None:
            cached, _ = await self.cache.get(key)
            if cached is not None:
                if progress is not None:
                    progress(1.0)
                return ComputeOutcome(cached, "hit")
            flight = self._flights.get(key)
        if flight is None:
            flight = self._start(
                key, kind, request, self.timeout if timeout is _DEFAULT else timeout
            )
        return ComputeOutcome(await self._wait(flight, progress), "miss")

    def _start(
        self, key: str, kind: str, request: Mapping[str, Any], timeout: float | None
    ) -> _Flight:
        flight = _Flight()
        flight.task = asyncio.get_running_loop().create_task(
            self._compute(key, kind, request, flight.report, timeout)
        )
        self._flights[key] = flight
        flight.task.add_done_callback(lambda _: self._flights.pop(key, None))
        return flight

    async def _wait(self, flight: _Flight, progress: ProgressCallback | None) -> dict[str, Any]:
        """Await the shared computation; the last waiter to leave cancels it (killing the work)."""
        assert flight.task is not None
        flight.waiters += 1
        if progress is not None:
            flight.listeners.append(progress)
        try:
            return await asyncio.shield(flight.task)
        except asyncio.CancelledError:
            if flight.waiters == 1:
                flight.task.cancel()
            raise
        finally:
            flight.waiters -= 1
            if progress is not None:
                flight.listeners.remove(progress)

    async def _compute(
        self,
        key: str,
        kind: str,
        request: Mapping[str, Any],
        progress: Callable[[float], None],
        timeout: float | None,
    ) -> dict[str, Any]:
        started = time.perf_counter()
        outcome = "error"
        try:
            result = await self.backend.run(kind, request, timeout=timeout, progress=progress)
            outcome = "ok"
        finally:
            if self.metrics is not None:
                self.metrics.compute_seconds.labels(kind, outcome).observe(
                    time.perf_counter() - started
                )
        if not isinstance(result, dict):
            raise TypeError(f"task {kind!r} returned {type(result).__name__}, not a dict")
        await self.cache.set(key, result)
        return result
