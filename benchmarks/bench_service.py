"""Latency and throughput of the HTTP service against calling the core in-process.

Starts ``deepkernel serve`` on a free loopback port (its own process, 2 workers, queue 64),
then for one small request (default: relu, depth 10, 20 points in 8 dimensions, both
kernels) measures p50/p99 latency and requests/s:
  - cold: every request has unique inputs, so each one is computed in a worker;
  - cached: the same request again and again (served from the in-process LRU);
at concurrency 1 and 16, a bounded number of requests each. The baseline is the same
computation called directly in this process (core function, no HTTP, no pool); ratios are
against its p50.

    .venv/bin/python benchmarks/bench_service.py [--requests 200] [--kind kernels|fixed-points]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def kernels_body(i: int | None) -> dict[str, Any]:
    x = np.random.default_rng(0).standard_normal((20, 8))
    if i is not None:
        x[0, 0] += (i + 1) * 1e-6  # unique input: a cache miss
    network = {"activation": "relu", "sigma_w2": 2.0, "sigma_b2": 0.1, "depth": 10}
    return {"network": network, "x1": x.tolist()}


def kernels_direct() -> Callable[[], Any]:
    from core.activations import get_activation
    from core.kernels import compute_kernels
    from core.network import Network

    body = kernels_body(None)
    network = Network(get_activation("relu"), 2.0, 0.1, 10)
    x = np.asarray(body["x1"])
    return lambda: compute_kernels(network, x)


def fixed_points_body(i: int | None) -> dict[str, Any]:
    shift = 0.0 if i is None else (i + 1) * 1e-9  # unique input: a cache miss
    return {"activation": "erf", "sigma_w2": 1.5, "sigma_b2": 0.05 + shift}


def fixed_points_direct() -> Callable[[], Any]:
    from core.activations import get_activation
    from core.fixed_points import fixed_points

    activation = get_activation("erf")
    return lambda: fixed_points(activation, 1.5, 0.05)


SCENARIOS = {
    "kernels": ("/v1/kernels", kernels_body, kernels_direct),
    "fixed-points": ("/v1/fixed-points", fixed_points_body, fixed_points_direct),
}


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


async def load(
    http: httpx.AsyncClient,
    path: str,
    make_body: Callable[[int | None], dict[str, Any]],
    *,
    requests: int,
    concurrency: int,
    cold: bool,
    offset: int,
) -> tuple[list[float], float, int]:
    """(latencies in s, wall time in s, failed count) for ``requests`` requests."""
    latencies: list[float] = []
    failed = 0
    counter = iter(range(requests))

    async def one_client() -> None:
        nonlocal failed
        for i in counter:
            body = make_body(offset + i if cold else None)
            started = time.perf_counter()
            response = await http.post(path, json=body)
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200 or cold != (response.headers.get("x-cache") == "miss"):
                failed += 1

    started = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(concurrency)))
    return latencies, time.perf_counter() - started, failed


def start_server(port: int) -> subprocess.Popen[bytes]:
    executable = shutil.which("deepkernel", path=str(Path(sys.executable).parent))
    if executable is None:
        sys.exit("the deepkernel console script is not installed in this environment")
    env = {**os.environ, "DEEPKERNEL_WORKERS": "2", "DEEPKERNEL_QUEUE_SIZE": "64"}
    env.pop("REDIS_URL", None)
    env.pop("DEEPKERNEL_API_KEYS", None)
    return subprocess.Popen(
        [executable, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def run(kind: str, requests: int) -> None:
    path, make_body, make_direct = SCENARIOS[kind]
    direct = make_direct()
    direct()
    direct_times = []
    for _ in range(max(20, requests // 4)):
        started = time.perf_counter()
        direct()
        direct_times.append(time.perf_counter() - started)
    base = statistics.median(direct_times)

    port = free_port()
    server = start_server(port)
    rows: list[tuple[str, int, int, float, float, float, int]] = []
    try:
        limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=120, limits=limits
        ) as http:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if (await http.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    sys.exit("the server did not become ready")
                await asyncio.sleep(0.1)
            await load(http, path, make_body, requests=8, concurrency=2, cold=True, offset=-100)
            await http.post(path, json=make_body(None))  # the cached entry
            offset = 0
            for mode in ("cold", "cached"):
                for concurrency in (1, 16):
                    latencies, wall, failed = await load(
                        http,
                        path,
                        make_body,
                        requests=requests,
                        concurrency=concurrency,
                        cold=mode == "cold",
                        offset=offset,
                    )
                    offset += requests
                    rows.append(
                        (
                            mode,
                            concurrency,
                            requests,
                            percentile(latencies, 50),
                            percentile(latencies, 99),
                            requests / wall,
                            failed,
                        )
                    )
    finally:
        server.terminate()
        server.wait(timeout=30)

    print(f"{kind}: {path}, server with 2 workers on loopback, {requests} requests per row")
    print(f"baseline: the core called in-process, p50 {base * 1e3:.3f} ms ({1 / base:.0f}/s)\n")
    header = (
        f"{'mode':<7}{'conc':>5}{'p50 ms':>10}{'p99 ms':>10}{'req/s':>9}"
        f"{'p50/base':>10}{'req/s vs base':>15}{'failed':>8}"
    )
    print(header)
    print("-" * len(header))
    for mode, concurrency, _, p50, p99, rate, failed in rows:
        print(
            f"{mode:<7}{concurrency:>5}{p50 * 1e3:>10.2f}{p99 * 1e3:>10.2f}{rate:>9.0f}"
            f"{p50 / base:>10.1f}{rate * base:>15.2f}{failed:>8}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="requests per row")
    parser.add_argument("--kind", choices=sorted(SCENARIOS), default="kernels")
    args = parser.parse_args()
    asyncio.run(run(args.kind, args.requests))


if __name__ == "__main__":
    main()
