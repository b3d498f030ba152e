"""A Dask ``distributed`` cluster as the compute backend (``DEEPKERNEL_DASK_SCHEDULER``).

Same small interface as :class:`service.pool.ProcessPool` (:class:`service.pool.ComputeBackend`):
``run(kind, request, timeout=, progress=)`` submits ``runner(kind, request, progress=)`` to the
cluster as one task and awaits it. Dask does the scheduling, the placement and the retries;
this module only adapts it.

- Progress: inside the task, fractions are published with ``Worker.log_event`` on the topic
  :data:`PROGRESS_TOPIC` (at most one event per 1 % step); the client subscribes to the topic
  once and routes each event to the ``progress`` callback of its task key.
- Cancellation and timeout: the future is cancelled (``Client.cancel``). A task that is
  already running cannot be killed from outside a Dask worker thread, so its progress
  callback checks whether the worker has cancelled or released the task and then raises
  :class:`TaskReleased`: the work stops at its next progress report (per layer / grid row).
- Lost workers: Dask re-runs a task whose worker died (up to ``distributed.scheduler.
  allowed-failures`` times); after that the task fails with ``KilledWorker``, reported here
  as :class:`service.errors.WorkerCrashedError` (503, retry).
- Errors: the task returns the worker pipe's tagged tuples (``("ok", result)``, ``("error",
  ...)``, ``("bug", traceback)``), decoded like the pool's, so core errors keep their class
  and field without pickling exception objects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
import uuid
from collections.abc import Mapping
from typing import Any

import numba
from distributed import Client, get_worker
from distributed.client import FutureCancelledError
from distributed.scheduler import KilledWorker

from core.errors import DeepKernelError
from service.errors import (
    ComputeTimeoutError,
    SaturatedError,
    ShuttingDownError,
    WorkerCrashedError,
)
from service.pool import DEFAULT_RUNNER, RETRY_AFTER_SECONDS, ProgressCallback, _decode
from service.worker import PROGRESS_STEP, resolve

PROGRESS_TOPIC = "deepkernel-progress"
RELEASED_STATES = frozenset({"cancelled", "released", "forgotten"})
"""Worker-side states of a task whose result nobody wants any more (distributed's
worker state machine: a running task whose future is cancelled becomes ``cancelled``)."""
logger = logging.getLogger("deepkernel.dask")


class TaskReleased(Exception):
    """Raised inside a task whose future was cancelled: stops the work early."""


def run_task(runner_path: str, kind: str, request: Mapping[str, Any], key: str) -> tuple[Any, ...]:
    """The Dask task: ``runner(kind, request, progress=...)`` as a tagged tuple.

    Runs in a Dask worker; ``key`` is this task's key (to route progress and to notice a
    cancellation).
    """
    worker = get_worker()
    # A Dask worker's parallelism is its processes x threads; like the BLAS limits Dask sets
    # in the workers it spawns (OMP_NUM_THREADS=1, ...), numba runs on this thread alone.
    numba.set_num_threads(1)
    last = -1.0

    def progress(fraction: float) -> None:
        nonlocal last
        task = worker.state.tasks.get(key)
        if task is None or task.state in RELEASED_STATES:  # the client cancelled the future
            raise TaskReleased(key)
        fraction = min(1.0, max(0.0, float(fraction)))
        if fraction - last >= PROGRESS_STEP or (fraction == 1.0 and last < 1.0):
            last = fraction
            worker.log_event(PROGRESS_TOPIC, {"key": key, "fraction": fraction})

    try:
        return ("ok", resolve(runner_path)(kind, dict(request), progress=progress))
    except DeepKernelError as exc:
        cls = type(exc)
        return ("error", cls.__module__, cls.__qualname__, exc.detail, exc.field)
    except TaskReleased:
        return ("released",)
    except Exception:
        return ("bug", traceback.format_exc())


class DaskBackend:
    """Runs tasks on the Dask cluster at ``address`` (``tcp://host:8786``).

    ``queue_size`` bounds the tasks submitted from this process at once (like the pool's
    admission); ``runner`` is the ``"module:function"`` the workers import.
    """

    def __init__(
        self,
        address: str,
        *,
        queue_size: int,
        runner: str = DEFAULT_RUNNER,
        connect_timeout: float = 30.0,
    ) -> None:
        self.address = address
        self.queue_size = queue_size
        self.runner = runner
        self.connect_timeout = connect_timeout
        self.client: Client | None = None
        self._listeners: dict[str, ProgressCallback] = {}
        self._admitted = 0
        self._closed = False

    async def start(self) -> None:
        """Connect to the scheduler and subscribe to the progress topic."""
        try:
            self.client = await Client(
                self.address, asynchronous=True, timeout=self.connect_timeout
            )
        except (OSError, TimeoutError) as exc:
            raise RuntimeError(
                f"cannot reach the Dask scheduler at {self.address} "
                f"(DEEPKERNEL_DASK_SCHEDULER) within {self.connect_timeout:g} s: {exc}"
            ) from exc
        self.client.subscribe_topic(PROGRESS_TOPIC, self._on_progress)

    async def close(self) -> None:
        self._closed = True
        if self.client is not None:
            with contextlib.suppress(Exception):
                self.client.unsubscribe_topic(PROGRESS_TOPIC)
            await self.client.close()

    def _on_progress(self, event: tuple[float, Any]) -> None:
        message = event[1]
        listener = self._listeners.get(message.get("key"))
        if listener is not None:
            listener(float(message["fraction"]))

    async def run(
        self,
        kind: str,
        request: Mapping[str, Any],
        *,
        timeout: float | None = None,
        progress: ProgressCallback | None = None,
    ) -> Any:
        """``runner(kind, request)`` on the cluster; core errors come back as raised."""
        if self._closed or self.client is None:
            raise ShuttingDownError("the service is shutting down", retry_after=RETRY_AFTER_SECONDS)
        if self._admitted >= self.queue_size:
            raise SaturatedError(
                f"all {self.queue_size} admission slots for the Dask cluster are taken; "
                "retry shortly",
                retry_after=RETRY_AFTER_SECONDS,
            )
        key = f"deepkernel-{kind}-{uuid.uuid4().hex}"
        if progress is not None:
            self._listeners[key] = progress
        self._admitted += 1
        future = self.client.submit(
            run_task, self.runner, kind, dict(request), key, key=key, pure=False
        )
        try:
            async with asyncio.timeout(timeout):
                message = await future
        except TimeoutError:
            raise ComputeTimeoutError(
                f"the computation did not finish within {timeout:g} s and was stopped; "
                "submit large work as a job (POST /v1/jobs)"
            ) from None
        except KilledWorker as exc:
            raise WorkerCrashedError(
                f"the Dask workers running this task died repeatedly ({exc}); retry",
                retry_after=RETRY_AFTER_SECONDS,
            ) from None
        except FutureCancelledError:
            raise WorkerCrashedError(
                "the Dask cluster dropped the task (scheduler restarted?); retry",
                retry_after=RETRY_AFTER_SECONDS,
            ) from None
        finally:
            self._admitted -= 1
            self._listeners.pop(key, None)
            if not future.done():
                await asyncio.shield(future.cancel())
        if message[0] == "released":
            raise WorkerCrashedError(
                "the Dask cluster released the task; retry", retry_after=RETRY_AFTER_SECONDS
            )
        return _decode(message)

    def status(self) -> dict[str, Any]:
        """Counts for /readyz and /metrics, from the client's cached scheduler identity
        (refreshed every few seconds): ``alive`` is the workers the scheduler knows."""
        info: dict[str, Any] = {}
        if self.client is not None and self.client.status == "running":
            info = dict(self.client.scheduler_info())
        workers = int(info.get("n_workers", 0))
        return {
            "backend": "dask",
            "scheduler": self.address,
            "workers": workers,
            "alive": workers,
            "threads": int(info.get("total_threads", 0)),
            "running": self._admitted,
            "waiting": 0,
            "queue_size": self.queue_size,
            "restarts": 0,
            "ready": not self._closed and workers > 0,
        }
