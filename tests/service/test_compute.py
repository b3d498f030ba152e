"""ComputeService: content-addressed keys, cache hits, single flight, errors not cached."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.errors import InvalidInputError
from service.cache import MemoryCache, ResultCache
from service.compute import (
    ALGORITHM_VERSION,
    RESULT_SOURCES,
    ComputeService,
    cache_key,
    source_digest,
)
from service.pool import ProgressCallback

pytestmark = pytest.mark.anyio


class CountingBackend:
    """Computes ``{"sum": sum(x)}`` after a release event; counts the computations."""

    def __init__(self) -> None:
        self.calls = 0
        self.release = asyncio.Event()

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def status(self) -> dict[str, Any]:
        return {}

    async def run(
        self,
        kind: str,
        request: Mapping[str, Any],
        *,
        timeout: float | None = None,
        progress: ProgressCallback | None = None,
    ) -> Any:
        self.calls += 1
        await self.release.wait()
        if progress is not None:
            progress(0.5)
        if request.get("fail"):
            raise InvalidInputError("no", field="fail")
        return {"sum": float(np.sum(request["x"]))}


def test_keys_depend_on_content_not_on_form() -> None:
    x = np.arange(6.0).reshape(2, 3)
    key = cache_key("kernels", {"x": x, "depth": 3, "activation": "relu"})
    assert key == cache_key("kernels", {"activation": "relu", "depth": 3, "x": x.copy()})
    assert key.startswith("kernels:") and len(key) == len("kernels:") + 64
    assert key != cache_key("spectra", {"x": x, "depth": 3, "activation": "relu"})
    assert key != cache_key("kernels", {"x": x.T.copy(), "depth": 3, "activation": "relu"})
    assert key != cache_key(
        "kernels", {"x": x.astype(np.float32), "depth": 3, "activation": "relu"}
    )
    changed = x.copy()
    changed[1, 2] = np.nextafter(changed[1, 2], np.inf)  # one ulp
    assert key != cache_key("kernels", {"x": changed, "depth": 3, "activation": "relu"})


def test_the_algorithm_version_follows_the_sources(tmp_path: Path) -> None:
    package = tmp_path / "core"
    (package / "activations").mkdir(parents=True)
    (package / "kernels.py").write_text("A = 1\n")
    (package / "activations" / "relu.py").write_text("B = 2\n")
    (package / "notes.txt").write_text("not a source")
    tasks = tmp_path / "tasks.py"
    tasks.write_text("C = 3\n")
    first = source_digest([package, tasks])
    assert source_digest([package, tasks]) == first
    (package / "notes.txt").write_text("still not a source")
    assert source_digest([package, tasks]) == first
    (package / "activations" / "relu.py").write_text("B = 2.0\n")
    changed = source_digest([package, tasks])
    assert changed != first
    (package / "activations" / "relu.py").rename(package / "activations" / "abs.py")
    assert source_digest([package, tasks]) not in (first, changed)
    assert source_digest(RESULT_SOURCES) == ALGORITHM_VERSION


async def test_concurrent_identical_requests_compute_once() -> None:
    backend = CountingBackend()
    service = ComputeService(backend, ResultCache(MemoryCache(10**6)), timeout=None)
    seen: list[float] = []
    request = {"x": np.arange(10.0)}
    tasks = [
        asyncio.create_task(service.run("sum", request, progress=seen.append)) for _ in range(8)
    ]
    other = asyncio.create_task(service.run("sum", {"x": np.arange(3.0)}))
    await asyncio.sleep(0.05)
    assert backend.calls == 2  # one per distinct request
    backend.release.set()
    outcomes = await asyncio.gather(*tasks)
    assert {o.result["sum"] for o in outcomes} == {45.0}
    assert {o.cache for o in outcomes} == {"miss"}
    assert seen == [0.5] * 8  # every waiter hears the shared computation's progress
    assert (await other).result == {"sum": 3.0}
    again = await service.run("sum", {"x": np.arange(10.0)})
    assert again.cache == "hit" and again.result == {"sum": 45.0}
    assert backend.calls == 2


async def test_errors_reach_every_waiter_and_are_not_cached() -> None:
    backend = CountingBackend()
    service = ComputeService(backend, ResultCache(MemoryCache(10**6)), timeout=None)
    request = {"x": [1.0], "fail": True}
    tasks = [asyncio.create_task(service.run("sum", request)) for _ in range(3)]
    await asyncio.sleep(0.01)
    backend.release.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, InvalidInputError) and r.field == "fail" for r in results)
    assert backend.calls == 1
    with pytest.raises(InvalidInputError):
        await service.run("sum", request)
    assert backend.calls == 2


async def test_the_last_waiter_leaving_cancels_the_computation() -> None:
    backend = CountingBackend()
    service = ComputeService(backend, ResultCache(MemoryCache(10**6)), timeout=None)
    first = asyncio.create_task(service.run("sum", {"x": [1.0]}))
    second = asyncio.create_task(service.run("sum", {"x": [1.0]}))
    await asyncio.sleep(0.01)
    first.cancel()
    await asyncio.sleep(0.01)
    backend.release.set()
    assert (await second).result == {"sum": 1.0}  # one waiter left: the work went on
    backend.release.clear()
    third = asyncio.create_task(service.run("sum", {"x": [2.0]}))
    await asyncio.sleep(0.01)
    flight = next(iter(service._flights.values()))
    third.cancel()
    await asyncio.sleep(0.01)
    assert flight.task is not None and flight.task.cancelled()
