"""Fixtures for the job tests: the same suite on the local process pool and on a real Dask
cluster (``distributed.LocalCluster``: 2 worker processes, TCP on loopback)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.app import create_app
from service.settings import Settings
from tests.conftest import open_client
from tests.jobs.slow_tasks import STEPS_FILE_VARIABLE

SLOW_RUNNER = "tests.jobs.slow_tasks:execute"
ACTIVE = ("queued", "running")


@pytest.fixture(scope="session")
def steps_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The file the slow runner appends a line to per progress report (in every worker
    started after this fixture: the variable is in the environment they inherit)."""
    path = tmp_path_factory.mktemp("steps") / "steps.txt"
    path.touch()
    os.environ[STEPS_FILE_VARIABLE] = str(path)
    yield path
    del os.environ[STEPS_FILE_VARIABLE]


@pytest.fixture(scope="session")
def dask_address(steps_file: Path) -> Iterator[str]:
    """The scheduler of a local Dask cluster shared by the session's Dask tests."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        yield cluster.scheduler_address


@pytest.fixture(params=["pool", "dask"])
def job_settings(request: pytest.FixtureRequest, steps_file: Path) -> Settings:
    """Small synchronous limits (a phase diagram above 100 cells is a job), 2 workers."""
    scheduler = request.getfixturevalue("dask_address") if request.param == "dask" else None
    return Settings(
        workers=2,
        blas_threads=1,
        queue_size=8,
        request_timeout_seconds=30,
        redis_url=None,
        dask_scheduler=scheduler,
        cache_max_bytes=16 * 2**20,
        max_points=200,
        max_depth=1000,
        max_work=1e5,
        job_max_work=1e6,
        job_queue_size=4,
        job_timeout_seconds=60,
        api_keys="",
    )


@pytest.fixture
async def jobs_client(job_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client on an app whose tasks are slowed down (tests.jobs.slow_tasks)."""
    async with open_client(create_app(job_settings, runner=SLOW_RUNNER)) as http:
        yield http


def phase_diagram_job(
    num_w2: int = 20, num_b2: int = 8, activation: str = "tanh"
) -> dict[str, Any]:
    """A phase-diagram job; tanh (numerical) reports progress per grid row, erf (closed
    form) per block of rows and computes much faster."""
    return {
        "kind": "phase-diagram",
        "request": {
            "activation": activation,
            "sigma_w2": {"start": 0.5, "stop": 3.0, "num": num_w2},
            "sigma_b2": {"start": 0.0, "stop": 0.5, "num": num_b2},
        },
    }


async def wait_finished(
    http: httpx.AsyncClient, location: str, *, seconds: float = 60.0
) -> dict[str, Any]:
    """Poll ``location`` until the job leaves queued/running (a bound, not a speed check)."""
    for _ in range(int(seconds / 0.05)):
        job = (await http.get(location)).json()
        if job["status"] not in ACTIVE:
            return dict(job)
        await asyncio.sleep(0.05)
    pytest.fail(f"job {location} still {job['status']} after {seconds} s")


async def wait_progress(http: httpx.AsyncClient, location: str) -> dict[str, Any]:
    """Poll until the job has made some progress (it is running in a worker)."""
    for _ in range(1200):
        job = (await http.get(location)).json()
        if job["progress"] > 0.0 or job["status"] not in ACTIVE:
            return dict(job)
        await asyncio.sleep(0.05)
    pytest.fail(f"job {location} made no progress in 60 s")
