"""Worker processes for the numerics: bounded admission, hard timeouts, self-healing.

Design. ``concurrent.futures.ProcessPoolExecutor`` cannot stop a running task, and a worker
that dies breaks the whole executor; so this is a small pool of our own: ``workers`` spawned
processes (:mod:`service.worker`), each owned through one duplex pipe. A task takes an idle
worker, sends ``(kind, request)`` and reads messages until the result. The blocking pipe
reads run in a dedicated thread pool, so the event loop never waits on them.

- Timeout and cancellation: the worker is killed (SIGKILL) and replaced by a fresh process;
  the work really stops and capacity returns. The deadline covers waiting for a worker too.
- Crash (``os._exit``, a signal, the OOM killer): the pipe reaches EOF; only that task fails,
  with :class:`WorkerCrashedError` (503, retry), and the worker is replaced.
- Admission: at most ``queue_size`` tasks are admitted (running + waiting); the next one gets
  :class:`SaturatedError` (503 with Retry-After) at once instead of queueing without bound.
- Progress: the worker reports fractions in [0, 1]; ``run(progress=...)`` receives them.
- Processes are *spawned* (not forked) so each starts without the parent's threads and sets
  its thread limits before numpy loads.

:class:`ComputeBackend` is the small interface the service uses, so another backend (e.g. a
distributed one) can replace :class:`ProcessPool`.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import multiprocessing as mp
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Protocol

from core.errors import DeepKernelError
from service.errors import (
    ComputeTimeoutError,
    SaturatedError,
    ShuttingDownError,
    WorkerCrashedError,
    WorkerTaskError,
)
from service.worker import worker_main

ProgressCallback = Callable[[float], None]
DEFAULT_RUNNER = "service.tasks:execute"
RETRY_AFTER_SECONDS = 1
logger = logging.getLogger("deepkernel.pool")


class ComputeBackend(Protocol):
    """Where the service sends work; :class:`ProcessPool` is the default."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def run(
        self,
        kind: str,
        request: Mapping[str, Any],
        *,
        timeout: float | None = None,
        progress: ProgressCallback | None = None,
    ) -> Any: ...

    def status(self) -> dict[str, Any]: ...


@dataclass(eq=False)
class _Worker:
    process: BaseProcess
    conn: Connection
    pending: list[Future[Any]] = field(default_factory=list)

    @property
    def pid(self) -> int | None:
        return self.process.pid


class ProcessPool:
    """``workers`` processes running ``runner(kind, request, progress=...)``.

    ``runner`` is a ``"module:function"`` path imported inside each worker.
    """

    def __init__(
        self,
        *,
        workers: int,
        threads_per_worker: int,
        queue_size: int,
        runner: str = DEFAULT_RUNNER,
    ) -> None:
        self.workers = workers
        self.threads_per_worker = threads_per_worker
        self.queue_size = queue_size
        self.runner = runner
        self.restarts = 0
        self._context = mp.get_context("spawn")
        self._all: set[_Worker] = set()
        self._idle: asyncio.Queue[_Worker] = asyncio.Queue()
        self._io = ThreadPoolExecutor(max_workers=workers + 1, thread_name_prefix="pool-pipe")
        self._admitted = 0
        self._running = 0
        self._replacing: set[asyncio.Task[None]] = set()
        self._closed = False

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Spawn the workers (they import the numerics in the background)."""
        spawned = await asyncio.gather(
            *(asyncio.to_thread(self._spawn) for _ in range(self.workers))
        )
        for worker in spawned:
            self._all.add(worker)
            self._idle.put_nowait(worker)

    async def close(self) -> None:
        """Ask idle workers to exit, kill busy ones, release the threads."""
        self._closed = True
        for task in list(self._replacing):
            with contextlib.suppress(BaseException):
                await task
        await asyncio.to_thread(self._stop_all, list(self._all))
        self._all.clear()
        self._io.shutdown(wait=False, cancel_futures=True)

    def _spawn(self) -> _Worker:
        parent, child = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=worker_main,
            args=(child, self.runner, self.threads_per_worker),
            name="deepkernel-worker",
            daemon=True,
        )
        process.start()
        child.close()
        return _Worker(process, parent)

    @staticmethod
    def _stop_all(workers: list[_Worker]) -> None:
        for worker in workers:
            with contextlib.suppress(OSError):
                worker.conn.send(None)
        deadline = time.monotonic() + 2.0
        for worker in workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(1.0)
            worker.conn.close()

    # -- work ---------------------------------------------------------------------------

    async def run(
        self,
        kind: str,
        request: Mapping[str, Any],
        *,
        timeout: float | None = None,
        progress: ProgressCallback | None = None,
    ) -> Any:
        """Compute ``runner(kind, request)`` in a worker; core errors come back as raised."""
        if self._closed:
            raise ShuttingDownError("the service is shutting down", retry_after=RETRY_AFTER_SECONDS)
        if self._admitted >= self.queue_size:
            raise SaturatedError(
                f"all {self.queue_size} admission slots are taken "
                f"({self.workers} computing, the rest waiting); retry shortly",
                retry_after=RETRY_AFTER_SECONDS,
            )
        self._admitted += 1
        try:
            async with asyncio.timeout(timeout):
                worker = await self._idle.get()
                while not worker.process.is_alive():  # died while idle: replace, take another
                    self._replace(worker)
                    worker = await self._idle.get()
                message = await self._use(worker, kind, request, progress)
        except TimeoutError:
            raise ComputeTimeoutError(
                f"the computation did not finish within {timeout:g} s and was stopped; "
                "submit large work as a job (POST /v1/jobs)"
            ) from None
        finally:
            self._admitted -= 1
        return _decode(message)

    async def _use(
        self,
        worker: _Worker,
        kind: str,
        request: Mapping[str, Any],
        progress: ProgressCallback | None,
    ) -> tuple[Any, ...]:
        """One exchange with ``worker``; it returns to the idle queue only if known healthy."""
        self._running += 1
        healthy = False
        try:
            await self._io_call(worker, worker.conn.send, (kind, dict(request)))
            while True:
                message: tuple[Any, ...] = await self._io_call(worker, worker.conn.recv)
                if message[0] != "progress":
                    healthy = True
                    return message
                if progress is not None:
                    progress(message[1])
        except (EOFError, OSError):
            await asyncio.to_thread(worker.process.join, 1.0)
            raise WorkerCrashedError(
                f"the worker process died while computing ({_exit_reason(worker.process)}); "
                "the pool has replaced it: retry",
                retry_after=RETRY_AFTER_SECONDS,
            ) from None
        finally:
            self._running -= 1
            if healthy and not self._closed:
                self._idle.put_nowait(worker)
            else:
                self._replace(worker)

    async def _io_call(self, worker: _Worker, function: Callable[..., Any], *args: Any) -> Any:
        future = self._io.submit(function, *args)
        worker.pending.append(future)
        try:
            return await asyncio.wrap_future(future)
        finally:
            worker.pending.remove(future)

    def _replace(self, worker: _Worker) -> None:
        """Kill ``worker`` and, unless closing, put a fresh process in its place."""
        with contextlib.suppress(OSError):
            worker.process.kill()
        task = asyncio.get_running_loop().create_task(self._respawn(worker))
        self._replacing.add(task)
        task.add_done_callback(self._replacing.discard)

    async def _respawn(self, worker: _Worker) -> None:
        pending = list(worker.pending)
        await asyncio.to_thread(worker.process.join, 5.0)
        for future in pending:  # a read blocked on the dead worker's pipe ends with EOF
            with contextlib.suppress(BaseException):
                await asyncio.wrap_future(future)
        worker.conn.close()
        self._all.discard(worker)
        if self._closed:
            return
        self.restarts += 1
        logger.warning(
            "worker replaced",
            extra={"pid": worker.pid, "exit": _exit_reason(worker.process)},
        )
        fresh = await asyncio.to_thread(self._spawn)
        self._all.add(fresh)
        self._idle.put_nowait(fresh)

    # -- state --------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Counts for /readyz and /metrics."""
        alive = sum(1 for worker in self._all if worker.process.is_alive())
        return {
            "backend": "processes",
            "workers": self.workers,
            "alive": alive,
            "running": self._running,
            "waiting": self._admitted - self._running,
            "queue_size": self.queue_size,
            "restarts": self.restarts,
            "threads_per_worker": self.threads_per_worker,
            "ready": not self._closed and alive > 0,
        }

    def pids(self) -> set[int]:
        """Process ids of the live workers."""
        return {w.pid for w in self._all if w.pid is not None and w.process.is_alive()}


def _exit_reason(process: BaseProcess) -> str:
    code = process.exitcode
    if code is None:
        return "still exiting"
    return f"killed by signal {-code}" if code < 0 else f"exit code {code}"


def _decode(message: tuple[Any, ...]) -> Any:
    """A worker's final message -> the result, or the exception it stands for, raised."""
    tag = message[0]
    if tag == "ok":
        return message[1]
    if tag == "error":
        _, module, qualname, detail, field_name = message
        cls: Any = importlib.import_module(module)
        for part in qualname.split("."):
            cls = getattr(cls, part)
        if isinstance(cls, type) and issubclass(cls, DeepKernelError):
            error = cls.__new__(cls)
            DeepKernelError.__init__(error, detail, field=field_name)
            raise error
        raise WorkerTaskError(f"{module}.{qualname}: {detail}")
    raise WorkerTaskError(f"unexpected error in a worker:\n{message[1]}")
