"""Jobs: scale-out of a large sweep (or phase diagram) on 1 vs 2 workers, and job overhead.

1. Scale-out. One large job, which the service splits into independent parts:
   - ``--workload sweep`` (default): a trainability sweep (erf, 100 train / 40 test points,
     7 depths up to 100, ``--size`` σ_w² rows; each row is a kernel recursion and an
     eigendecomposition per depth), split into blocks of σ_w² rows;
   - ``--workload phase-diagram``: 96 σ_w² x ``--size`` σ_b² cells of ``--activation``
     (tanh: a quadrature-based root solve per cell), split into blocks of σ_b² rows.
   Wall time from POST /v1/jobs until its result can be fetched (as npz), on a Dask cluster
   (``distributed.LocalCluster``, worker processes, TCP on loopback) with 1 worker, then 2,
   and on the local process pool with 1 worker, then 2. The baseline is the 1-worker run of
   the same backend; the ratio is the speed-up. Each run uses a fresh app (empty cache)
   after a warm-up job on the same workers (imports, numba compilation); the client polls
   the result every 50 ms (polling every 2 ms cost the API process as much CPU as the
   work). The machine's core count bounds the speed-up: on 2 shared cores, at most 2.
   Wall time depends on what else the machine runs, so the CPU seconds of every worker
   process are reported too: the busiest worker's CPU time is the job's critical path, and
   "cpu speed-up" (1-worker CPU time / busiest worker's CPU time with 2) is the speed-up a
   quiet machine with as many cores as workers would show.
2. Overhead. A small request (fixed points, unique inputs each time so nothing is cached):
   the synchronous endpoint against the same request as a job (POST, then GET the result
   every 2 ms until it is no longer 409), p50 over ``--repeats`` requests, local pool with
   2 workers.

    .venv/bin/python benchmarks/bench_jobs.py [--workload sweep|phase-diagram] [--size 32]
        [--repeats 30] [--activation tanh]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import psutil
from asgi_lifespan import LifespanManager

from service.app import create_app
from service.settings import Settings

POLL_SECONDS = 0.002  # overhead of small jobs
SCALE_OUT_POLL_SECONDS = 0.05


@asynccontextmanager
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with (
        LifespanManager(app, startup_timeout=120, shutdown_timeout=60) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://bench", timeout=600
        ) as http,
    ):
        yield http


def settings_for(workers: int, scheduler: str | None) -> Settings:
    return Settings(
        workers=workers,
        blas_threads=1,
        queue_size=4 * workers,
        redis_url=None,
        dask_scheduler=scheduler,
        job_max_work=1e12,
        job_timeout_seconds=3600,
        api_keys="",
        log_level="warning",
    )


ACTIVATION = {"name": "tanh"}


def phase_diagram_job(num_w2: int, num_b2: int, b2_stop: float) -> dict[str, Any]:
    return {
        "kind": "phase-diagram",
        "request": {
            "activation": ACTIVATION,
            "sigma_w2": {"start": 0.5, "stop": 3.0, "num": num_w2},
            "sigma_b2": {"start": 0.0, "stop": b2_stop, "num": num_b2},
        },
    }


def sweep_job(num_w2: int, n_train: int, n_test: int) -> dict[str, Any]:
    """A 3-class trainability sweep (erf) on Gaussian inputs in 8 dimensions."""
    rng = np.random.default_rng(0)
    return {
        "kind": "sweeps",
        "request": {
            "activation": "erf",
            "sigma_b2": 0.05,
            "sigma_w2": {"start": 0.5, "stop": 4.0, "num": num_w2},
            "depths": [1, 2, 5, 10, 20, 50, 100],
            "x_train": rng.normal(size=(n_train, 8)).tolist(),
            "y_train": rng.integers(0, 3, n_train).tolist(),
            "x_test": rng.normal(size=(n_test, 8)).tolist(),
            "y_test": rng.integers(0, 3, n_test).tolist(),
            "t": [10.0, 1000.0, "inf"],
        },
    }


WORKLOADS: dict[str, Callable[[int, int], tuple[dict[str, Any], dict[str, Any]]]] = {
    # (warm-up job, measured job) for a given number of workers and a size
    "phase-diagram": lambda workers, size: (
        phase_diagram_job(6, 8 * workers, 0.1),
        phase_diagram_job(96, size, 0.5),
    ),
    # the warm-up has the measured job's point counts, so that every worker has loaded the
    # same compiled code paths before the clock starts
    "sweep": lambda workers, size: (sweep_job(8 * workers, 100, 40), sweep_job(size, 100, 40)),
}


async def run_job(
    http: httpx.AsyncClient,
    body: dict[str, Any],
    media_type: str = "application/x-npz",
    poll_seconds: float = POLL_SECONDS,
) -> bytes:
    """Submit ``body`` and poll its result (409 until it succeeds); the result's bytes."""
    submitted = await http.post("/v1/jobs", json=body)
    submitted.raise_for_status()
    while True:
        result = await http.get(
            f"{submitted.headers['location']}/result", headers={"accept": media_type}
        )
        if result.status_code == 200:
            return result.content
        if result.status_code != 409 or "has no result" not in result.json()["detail"]:
            raise RuntimeError(f"job failed: {result.text}")
        await asyncio.sleep(poll_seconds)


@dataclass(frozen=True)
class Timing:
    """Wall seconds of a job, and the CPU seconds each worker process spent on it."""

    seconds: float
    worker_cpu: list[float]


def child_cpu_seconds() -> dict[int, float]:
    """CPU seconds (user + system) of every descendant process, by pid."""
    seconds = {}
    for process in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            seconds[process.pid] = times.user + times.system
    return seconds


async def timed_job(settings: Settings, workload: str, size: int) -> Timing:
    """The large job on a fresh app (warm-up job first, on the same workers)."""
    warm_up, measured = WORKLOADS[workload](settings.workers, size)
    async with client(settings) as http:
        await run_job(http, warm_up)
        before = child_cpu_seconds()
        started = time.perf_counter()
        await run_job(http, measured, poll_seconds=SCALE_OUT_POLL_SECONDS)
        seconds = time.perf_counter() - started
        after = child_cpu_seconds()
    spent = [after[pid] - before[pid] for pid in after if pid in before]
    busy = sorted((cpu for cpu in spent if cpu > 0.05), reverse=True)  # not trackers, nannies
    return Timing(seconds, busy[: settings.workers])


async def dask_time(workers: int, workload: str, size: int) -> Timing:
    from distributed import LocalCluster

    async with LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        asynchronous=True,
        silence_logs=40,
    ) as cluster:
        return await timed_job(settings_for(workers, cluster.scheduler_address), workload, size)


async def overhead(repeats: int) -> tuple[float, float]:
    """p50 seconds of the synchronous endpoint and of the same work as a job."""
    sync_times, job_times = [], []
    async with client(settings_for(2, None)) as http:
        for i in range(repeats + 2):  # the first two warm the workers up
            request = {"activation": "erf", "sigma_w2": 1.0 + i * 1e-3, "sigma_b2": 0.1}
            started = time.perf_counter()
            (await http.post("/v1/fixed-points", json=request)).raise_for_status()
            sync_times.append(time.perf_counter() - started)
            request["sigma_b2"] = 0.2  # a different request: not cached
            started = time.perf_counter()
            await run_job(http, {"kind": "fixed-points", "request": request}, "application/json")
            job_times.append(time.perf_counter() - started)
    return statistics.median(sync_times[2:]), statistics.median(job_times[2:])


async def main(workload: str, size: int, repeats: int) -> None:
    if workload == "sweep":
        print(f"scale-out: erf sweep, {size} σ_w² rows x 7 depths, 100 train / 40 test points")
    else:
        name = ACTIVATION["name"]
        print(f"scale-out: {name} phase diagram, 96 σ_w² x {size} σ_b² cells, as one job")
    print(f"machine: {os.cpu_count()} cores\n")
    header = (
        f"{'backend':<20}{'workers':>8}{'seconds':>9}{'speed-up':>10}"
        f"{'worker cpu s':>16}{'cpu speed-up':>14}"
    )
    print(header)
    print("-" * len(header))
    for name in ("dask LocalCluster", "local process pool"):
        base: Timing | None = None
        for workers in (1, 2):
            if name.startswith("dask"):
                timing = await dask_time(workers, workload, size)
            else:
                timing = await timed_job(settings_for(workers, None), workload, size)
            base = base or timing
            cpu = " + ".join(f"{c:.2f}" for c in timing.worker_cpu)
            speed_up = base.seconds / timing.seconds
            cpu_speed_up = sum(base.worker_cpu) / max(timing.worker_cpu)
            print(
                f"{name:<20}{workers:>8}{timing.seconds:>9.2f}{speed_up:>9.2f}x"
                f"{cpu:>16}{cpu_speed_up:>13.2f}x"
            )
    sync, job = await overhead(repeats)
    print(f"\noverhead: fixed points (erf), p50 of {repeats}, local pool with 2 workers")
    print(f"{'path':<40}{'p50 ms':>10}{'ratio':>8}")
    print(f"{'POST /v1/fixed-points':<40}{sync * 1e3:>10.2f}{1.0:>7.2f}x")
    print(f"{'POST /v1/jobs + GET result until 200':<40}{job * 1e3:>10.2f}{job / sync:>7.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workload", choices=sorted(WORKLOADS), default="sweep")
    parser.add_argument(
        "--size", type=int, default=32, help="sweep: σ_w² rows; phase diagram: σ_b² rows"
    )
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--activation", default="tanh", help="of the phase diagram")
    args = parser.parse_args()
    ACTIVATION["name"] = args.activation
    asyncio.run(main(args.workload, args.size, args.repeats))
