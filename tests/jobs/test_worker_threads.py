"""Workers compute with the thread limits they were given, whatever was imported before.

Without the limits, two workers on two cores each ran numba's parallel loops on both cores
and a job split over 2 workers ran 2-3x slower than on 1 (benchmarks/bench_jobs.py).
"""

from __future__ import annotations

import multiprocessing as mp

import pytest

from tests.jobs.thread_probe import PRELOADED_THREADS, preloaded_worker_main

PROBE = "tests.jobs.thread_probe:execute"


def test_a_worker_whose_numerics_were_loaded_first_still_uses_its_thread_limit() -> None:
    context = mp.get_context("spawn")
    parent, child = context.Pipe(duplex=True)
    process = context.Process(target=preloaded_worker_main, args=(child, PROBE, 1), daemon=True)
    process.start()
    child.close()
    try:
        parent.send(("threads", {}))
        assert parent.poll(60), "the worker did not answer within 60 s"
        tag, limits = parent.recv()
        parent.send(None)
        process.join(10)
    finally:
        if process.is_alive():
            process.kill()
    assert tag == "ok", limits
    assert PRELOADED_THREADS > 1  # the limit below is a change, not the default
    assert limits == {"numba": 1, "blas": [1]}
    assert process.exitcode == 0


@pytest.mark.anyio
async def test_dask_tasks_run_numba_on_their_own_thread(dask_address: str) -> None:
    from service.dask_backend import DaskBackend

    backend = DaskBackend(dask_address, queue_size=2, runner=PROBE)
    await backend.start()
    try:
        limits = await backend.run("threads", {}, timeout=60)
    finally:
        await backend.close()
    assert limits["numba"] == 1
