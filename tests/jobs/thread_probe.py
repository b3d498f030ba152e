"""A test-only runner reporting the thread limits it computes under, and a worker entry point
that loads numba before :func:`service.worker.worker_main` (as a spawned worker does when its
parent's ``__main__`` imports the numerics at the top, e.g. a benchmark script)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection
from typing import Any

from service.worker import worker_main

PRELOADED_THREADS = 2


def execute(
    kind: str, request: Mapping[str, Any], progress: Callable[[float], None] | None = None
) -> dict[str, Any]:
    import numba
    from threadpoolctl import threadpool_info

    return {
        "numba": numba.get_num_threads(),
        "blas": sorted({pool["num_threads"] for pool in threadpool_info()}),
    }


def preloaded_worker_main(conn: Connection, runner_path: str, threads: int) -> None:
    os.environ["NUMBA_NUM_THREADS"] = str(PRELOADED_THREADS)
    import numba
    import numpy  # noqa: F401  (loads the BLAS with its default thread count)

    assert numba.get_num_threads() == PRELOADED_THREADS
    worker_main(conn, runner_path, threads)
