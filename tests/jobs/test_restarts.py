"""Jobs across API restarts (Redis), lost runners (leases), and the job limits."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from service.app import create_app
from service.cache import MemoryCache, ResultCache
from service.compute import ComputeService
from service.jobs import MAX_ATTEMPTS, JobManager, JobStore, cancel_and_wait, job_id
from service.settings import Settings
from tests.conftest import open_client
from tests.jobs.conftest import SLOW_RUNNER, phase_diagram_job, wait_finished, wait_progress

pytestmark = pytest.mark.anyio
FIXED_POINTS = {
    "kind": "fixed-points",
    "request": {"activation": "erf", "sigma_w2": 1.5, "sigma_b2": 0.1},
}


def settings_for(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "workers": 1,
        "blas_threads": 1,
        "queue_size": 4,
        "redis_url": None,
        "max_work": 1e5,
        "job_max_work": 1e6,
        "job_max_points": 300,
        "api_keys": "",
    }
    return Settings(**(values | overrides))


@pytest.mark.redis
async def test_a_finished_job_is_served_after_the_app_is_rebuilt(
    redis_url: str, redis_prefix: str
) -> None:
    settings = settings_for(redis_url=redis_url, redis_prefix=redis_prefix)
    body = phase_diagram_job(num_w2=20, num_b2=8, activation="erf")
    async with open_client(create_app(settings)) as http:
        submitted = await http.post("/v1/jobs", json=body)
        before = await wait_finished(http, submitted.headers["location"])
    assert before["status"] == "succeeded"
    async with open_client(create_app(settings)) as http:
        after = await http.get(submitted.headers["location"])
        npz = await http.get(
            f"{submitted.headers['location']}/result", headers={"accept": "application/x-npz"}
        )
        metrics = (await http.get("/metrics")).text
    assert after.status_code == 200 and after.json() == before
    assert npz.status_code == 200 and npz.content.startswith(b"PK")
    assert 'deepkernel_compute_duration_seconds_count{kind="phase-diagram"' not in metrics


@pytest.mark.redis
async def test_a_job_whose_api_process_stopped_mid_run_is_resumed(
    redis_url: str, redis_prefix: str
) -> None:
    settings = settings_for(redis_url=redis_url, redis_prefix=redis_prefix, job_lease_seconds=1.0)
    body = phase_diagram_job(num_w2=6, num_b2=16, activation="erf")
    async with open_client(create_app(settings, runner=SLOW_RUNNER)) as http:
        submitted = await http.post("/v1/jobs", json=body)
        await wait_progress(http, submitted.headers["location"])
    async with open_client(create_app(settings, runner=SLOW_RUNNER)) as http:
        stalled = (await http.get(submitted.headers["location"])).json()
        assert stalled["status"] in ("queued", "running")
        job = await wait_finished(http, submitted.headers["location"])
    assert job["status"] == "succeeded"
    assert np.array(job["result"]["chi_1"]).shape == (16, 6)


async def test_without_redis_jobs_live_in_the_process_and_end_with_it() -> None:
    settings = settings_for()
    async with open_client(create_app(settings)) as http:
        submitted = await http.post("/v1/jobs", json=FIXED_POINTS)
        assert (await wait_finished(http, submitted.headers["location"]))["status"] == "succeeded"
    async with open_client(create_app(settings)) as http:
        gone = await http.get(submitted.headers["location"])
    assert gone.status_code == 404
    assert gone.headers["content-type"] == "application/problem+json"
    assert "retention" in gone.json()["detail"]


class _Backend:
    """Answers every task at once, counting them."""

    def __init__(self) -> None:
        self.calls = 0

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def run(self, kind: str, request: Mapping[str, Any], **_: Any) -> dict[str, Any]:
        self.calls += 1
        return {"kind": kind, "sigma_w2": request["sigma_w2"]}

    def status(self) -> dict[str, Any]:
        return {}


def _manager(store: JobStore, backend: _Backend) -> JobManager:
    compute = ComputeService(backend, ResultCache(MemoryCache(2**20)), timeout=None)
    return JobManager(compute, store, parallelism=1, queue_size=2, timeout=None, lease_seconds=30.0)


def _stale(request: dict[str, Any], attempts: int) -> dict[str, Any]:
    return {
        "id": job_id("fixed-points", request),
        "kind": "fixed-points",
        "status": "running",
        "progress": 0.4,
        "request": request,
        "attempts": attempts,
        "created_at": time.time() - 100,
        "lease_until": time.time() - 1,  # its runner stopped renewing the lease
    }


async def test_a_job_with_an_expired_lease_is_resumed_then_given_up() -> None:
    store = JobStore(MemoryCache(2**20), None, retention_seconds=60)
    backend = _Backend()
    manager = _manager(store, backend)
    resumable = {"activation": {"name": "erf"}, "sigma_w2": 1.5, "sigma_b2": 0.1}
    await store.put(_stale(resumable, attempts=1))
    resumed = await manager.get(job_id("fixed-points", resumable))
    assert resumed is not None and resumed["status"] == "queued" and resumed["attempts"] == 2
    for _ in range(100):
        record = await manager.get(resumed["id"])
        assert record is not None
        if record["status"] == "succeeded":
            break
        await asyncio.sleep(0.01)
    assert record["result"] == {"kind": "fixed-points", "sigma_w2": 1.5}
    assert backend.calls == 1

    hopeless = {"activation": {"name": "erf"}, "sigma_w2": 2.5, "sigma_b2": 0.1}
    await store.put(_stale(hopeless, attempts=MAX_ATTEMPTS))
    failed = await manager.get(job_id("fixed-points", hopeless))
    assert failed is not None and failed["status"] == "failed"
    assert failed["error"]["type"] == "/problems/runner-lost"
    assert backend.calls == 1
    await manager.close()


async def test_stopping_a_task_that_loses_its_cancellation_still_ends_it() -> None:
    """A job's heartbeat whose cancellation was turned into a handled error (redis-py's read
    timeout) used to outlive its job and hang the app's shutdown."""
    swallowed = 0

    async def heartbeat() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                swallowed += 1
                if swallowed == 3:
                    raise

    task = asyncio.create_task(heartbeat())
    await asyncio.sleep(0.01)
    async with asyncio.timeout(30):  # a hang guard, not a speed check
        await cancel_and_wait(task)
    assert task.cancelled() and swallowed == 3


async def test_records_past_their_retention_are_gone() -> None:
    store = JobStore(MemoryCache(2**20), None, retention_seconds=60)
    request = {"activation": {"name": "erf"}, "sigma_w2": 1.5, "sigma_b2": 0.1}
    record = _stale(request, attempts=1) | {"status": "succeeded", "result": {}}
    await store.put(record)
    assert await store.get(record["id"]) is not None
    store.retention_seconds = -1  # as if the retention had passed
    await store.put(record)
    assert await store.get(record["id"]) is None


async def test_job_limits_queue_and_validation() -> None:
    settings = settings_for(job_queue_size=1)
    async with open_client(create_app(settings, runner=SLOW_RUNNER)) as http:
        too_large = await http.post(
            "/v1/jobs", json=phase_diagram_job(num_w2=100, num_b2=11, activation="erf")
        )
        assert too_large.status_code == 413
        assert "DEEPKERNEL_JOB_MAX_WORK" in too_large.json()["detail"]
        points = await http.post(
            "/v1/jobs",
            json={
                "kind": "kernels",
                "request": {
                    "network": {"activation": "relu", "sigma_w2": 2.0, "sigma_b2": 0.0, "depth": 3},
                    "x1": [[float(i)] for i in range(301)],
                },
            },
        )
        assert points.status_code == 413
        assert "DEEPKERNEL_JOB_MAX_POINTS" in points.json()["detail"]
        invalid = await http.post("/v1/jobs", json={"kind": "phase-diagram", "request": {}})
        assert invalid.status_code == 422
        assert {e["field"] for e in invalid.json()["errors"]} >= {"request.activation"}
        unknown_kind = await http.post("/v1/jobs", json={"kind": "nope", "request": {}})
        assert unknown_kind.status_code == 422

        slow = await http.post(
            "/v1/jobs", json=phase_diagram_job(num_w2=6, num_b2=16, activation="erf")
        )
        assert slow.status_code == 202
        full = await http.post("/v1/jobs", json=FIXED_POINTS)
        assert full.status_code == 503 and "Retry-After" in full.headers
        assert "DEEPKERNEL_JOB_QUEUE_SIZE" in full.json()["detail"]
        assert (await http.delete(slow.headers["location"])).json()["status"] == "cancelled"
        assert (await http.get("/v1/jobs/" + "0" * 64)).status_code == 404
        assert (await http.get("/v1/jobs/not-an-id")).status_code == 422


async def test_a_result_larger_than_the_job_store_keeps_fails_the_job() -> None:
    settings = settings_for(cache_max_bytes=8192)
    async with open_client(create_app(settings)) as http:
        submitted = await http.post(
            "/v1/jobs", json=phase_diagram_job(num_w2=40, num_b2=8, activation="erf")
        )
        job = await wait_finished(http, submitted.headers["location"])
    assert job["status"] == "failed"
    assert job["error"]["status"] == 413 and job["error"]["type"] == "/problems/result-too-large"
    assert "DEEPKERNEL_CACHE_MAX_BYTES" in job["error"]["detail"]


@pytest.mark.redis
async def test_a_job_cancelled_through_another_api_process_stops(
    redis_url: str, redis_prefix: str
) -> None:
    settings = settings_for(redis_url=redis_url, redis_prefix=redis_prefix)
    body = phase_diagram_job(num_w2=6, num_b2=16)  # tanh: progress per row
    async with (
        open_client(create_app(settings, runner=SLOW_RUNNER)) as runner,
        open_client(create_app(settings)) as other,
    ):
        submitted = await runner.post("/v1/jobs", json=body)
        location = submitted.headers["location"]
        await wait_progress(runner, location)
        assert (await other.get(location)).json()["status"] in ("queued", "running")
        assert (await other.delete(location)).json()["status"] == "cancelled"
        job = await wait_finished(runner, location)  # its heartbeat sees the cancellation
        assert job["status"] == "cancelled"
        ready = (await runner.get("/readyz")).json()
        assert ready["pool"]["running"] == 0
