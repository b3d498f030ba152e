"""The body of one worker process: set thread limits, then serve tasks from a pipe.

This module imports only the standard library at the top, so that the BLAS and numba
thread-count variables are in the environment before numpy, scipy or numba load in the
worker (they read them once, at import). :mod:`threadpoolctl` and ``numba.set_num_threads``
then enforce the same limit on whatever was loaded earlier (see :func:`limit_threads`):
without it, two workers on two cores each ran numba's parallel loops on both cores, and a
job split over 2 workers ran 2-3x slower than on 1.

Pipe protocol (tuples, pickled by ``multiprocessing.Connection``; both ends are ours):
  parent -> worker: ``(kind, request)``; ``None`` asks the worker to exit.
  worker -> parent: ``("progress", fraction)`` any number of times, then exactly one of
  ``("ok", result)``, ``("error", module, qualname, detail, field)`` for a
  :class:`core.errors.DeepKernelError`, or ``("bug", text)`` for any other exception.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "NUMBA_NUM_THREADS",
)
PROGRESS_STEP = 0.01  # report progress when it moved by at least this much


def resolve(path: str) -> Callable[..., Any]:
    """``"package.module:function"`` -> the function."""
    module, _, name = path.partition(":")
    function = getattr(importlib.import_module(module), name)
    if not callable(function):
        raise TypeError(f"{path} is not callable")
    return function


def limit_threads(threads: int) -> None:
    """Hold BLAS/OpenMP to ``threads`` threads in this process, and numba in this thread.

    The variables reach libraries loaded later; threadpoolctl and ``numba.set_num_threads``
    (thread-local) the ones already loaded: a spawned process first re-imports its parent's
    ``__main__``, which may have loaded numpy and numba sized to every core of the machine.
    numba refuses a changed ``NUMBA_NUM_THREADS`` once loaded, so then only the call is used.
    """
    numba_loaded = "numba" in sys.modules
    for variable in THREAD_VARIABLES:
        if not (variable == "NUMBA_NUM_THREADS" and numba_loaded):
            os.environ[variable] = str(threads)
    import numba
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]


def worker_main(conn: Connection, runner_path: str, threads: int) -> None:
    """Entry point of a worker process; returns (exits) when the pipe closes.

    SIGINT is ignored: a Ctrl-C in the terminal reaches the whole process group, and the
    parent alone decides when workers stop (it closes the pipe, or kills them).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    limit_threads(threads)
    try:
        runner = resolve(runner_path)
    except Exception:  # stay up and answer every task with the cause, rather than crash-loop
        load_error = f"the worker could not load {runner_path}:\n{traceback.format_exc()}"
        runner = None
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        kind, request = message
        if runner is None:
            conn.send(("bug", load_error))
        else:
            conn.send(_run_one(conn, runner, kind, request))


def _run_one(
    conn: Connection, runner: Callable[..., Any], kind: str, request: Any
) -> tuple[Any, ...]:
    last = -1.0

    def progress(fraction: float) -> None:
        nonlocal last
        fraction = min(1.0, max(0.0, float(fraction)))
        if fraction - last >= PROGRESS_STEP or (fraction == 1.0 and last < 1.0):
            last = fraction
            conn.send(("progress", fraction))

    from core.errors import DeepKernelError

    try:
        return ("ok", runner(kind, request, progress=progress))
    except DeepKernelError as exc:
        cls = type(exc)
        return ("error", cls.__module__, cls.__qualname__, exc.detail, exc.field)
    except Exception:
        return ("bug", traceback.format_exc())
