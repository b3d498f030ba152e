"""A test-only task runner for the worker pool: sleeping, crashing, reporting threads.

Selected by passing ``runner="tests.service.fake_tasks:execute"`` to the pool; production
never routes here. Unknown kinds fall through to the real :func:`service.tasks.execute`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from core.errors import InvalidInputError


def execute(
    kind: str, request: Mapping[str, Any], progress: Callable[[float], None] | None = None
) -> dict[str, Any]:
    """Run one fake task; ``request`` fields are documented per kind below."""
    if "calls_file" in request:  # append one line per computation, to count them
        with open(request["calls_file"], "a") as handle:
            handle.write(f"{kind}\n")
    if "pid_file" in request:  # tell the test which process is computing
        with open(request["pid_file"] + ".part", "w") as handle:
            handle.write(str(os.getpid()))
        os.replace(request["pid_file"] + ".part", request["pid_file"])
    if kind == "echo":  # returns its input and an array computed from it
        n = int(request.get("n", 3))
        return {"value": request.get("value"), "array": np.arange(n, dtype=np.float64) / 3}
    if kind == "sleep":  # sleeps `seconds`, reporting progress in `steps`
        steps = int(request.get("steps", 10))
        for step in range(steps):
            time.sleep(float(request["seconds"]) / steps)
            if progress is not None:
                progress((step + 1) / steps)
        return {"slept": request["seconds"], "pid": os.getpid()}
    if kind == "crash":  # dies like a segfault or an OOM kill would
        os._exit(int(request.get("code", 1)))
    if kind == "fail":  # a core error with a field
        raise InvalidInputError(request.get("detail", "bad"), field=request.get("field"))
    if kind == "bug":  # a plain exception: a bug, not the caller's fault
        raise ZeroDivisionError("division by zero")
    if kind == "threads":  # thread limits as seen inside the worker
        from threadpoolctl import threadpool_info

        return {
            "pid": os.getpid(),
            "blas": [info["num_threads"] for info in threadpool_info()],
            "env": {
                name: os.environ.get(name) for name in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS")
            },
        }
    from service.tasks import execute as real_execute

    return real_execute(kind, request)
