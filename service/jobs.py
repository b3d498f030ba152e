"""Asynchronous jobs: content-addressed ids, progress, cancellation, results kept for a while.

A job is one compute request (``kind`` + canonical ``request``) run in the background through
the app's :class:`service.compute.ComputeService` (so through the same cache, single flight
and bounded worker pool or Dask cluster as the synchronous endpoints).

- Id: the content address of the request (:func:`service.compute.cache_key`, which includes
  ``ALGORITHM_VERSION``, a digest of the numerics' sources). Submitting the same request
  again returns the same job; a finished one answers at once, and a request whose result is
  already cached finishes at submission. Resubmitting a failed or cancelled job runs it again.
- Record: one value per job in a :class:`JobStore` (status, progress, the request, and the
  result or the problem), written at each transition and by a heartbeat while it runs.
- Splitting: :func:`service.tasks.split` cuts grids and sweeps into independent parts (about
  two per worker), which run in parallel; progress is the mean of the parts' progress, and a
  failure or a cancellation of the job cancels every part.
- Cancellation: stops the parts (the pool kills their workers; Dask drops the tasks, which
  stop at their next progress report). A job cancelled through another API process stops
  at its runner's next heartbeat. Cancelling a finished job changes nothing.
- Admission: at most ``queue_size`` jobs queued or running in this process (503 beyond);
  at most ``parallelism`` parts computing at once; a part the pool refuses as saturated
  (synchronous requests took the slots) waits and retries.
- Lost runners: a queued or running record carries a lease that its runner's heartbeat
  renews every ``min(HEARTBEAT_SECONDS, lease_seconds / 3)``; the heartbeat also publishes
  the progress to the store (so another API process sees it at most that stale). A record
  whose lease has expired (the API process that ran it stopped) is resumed by the next
  process that reads it; parts already computed come from the result cache. After
  ``MAX_ATTEMPTS`` runs it fails with a ``runner-lost`` problem.
- Retention: ``retention_seconds`` after its last change a job is gone (404). With Redis the
  records live there (key ``<redis_prefix>jobs:<id>``, TTL = retention; note that a Redis
  configured with ``allkeys-lru`` may evict them sooner under memory pressure) and survive a
  restart of the API process; without Redis they live in this process's memory (bounded LRU)
  and are lost when it stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.errors import DeepKernelError
from service.cache import REDIS_MAX_VALUE_BYTES, MemoryCache, RedisCache
from service.codec import size_of
from service.compute import ComputeService, cache_key
from service.errors import SaturatedError, ServiceError
from service.tasks import merge, split

ACTIVE: frozenset[str] = frozenset({"queued", "running"})
MAX_ATTEMPTS = 3
HEARTBEAT_SECONDS = 1.0
PARTS_PER_WORKER = 2
SATURATED_RETRY_SECONDS = 0.2
CANCEL_REPEAT_SECONDS = 0.1
logger = logging.getLogger("deepkernel.jobs")


def job_id(kind: str, request: Mapping[str, Any]) -> str:
    """The job id of ``request``: the hex digest of its content address."""
    return cache_key(kind, request).split(":", 1)[1]


def problem_of(exc: BaseException) -> dict[str, Any]:
    """A problem+json object for an exception that ended a job."""
    if isinstance(exc, DeepKernelError):
        problem: dict[str, Any] = {
            "type": f"/problems/{exc.slug}",
            "title": exc.title,
            "status": exc.status,
            "detail": exc.detail,
        }
        if exc.field is not None:
            problem["errors"] = [{"field": exc.field, "message": exc.detail, "type": exc.slug}]
        return problem
    return {
        "type": "/problems/internal-error",
        "title": "Internal error",
        "status": 500,
        "detail": "The service failed on this job. This is a bug on our side; it has been logged.",
    }


class ResultTooLargeError(DeepKernelError):
    """A job's result is larger than the job store keeps."""

    status = 413
    slug = "result-too-large"
    title = "Result too large"


class JobStore:
    """Job records by id: in Redis (if configured, with a TTL) and in the in-process LRU.

    Redis is read first, so every API process sees the others' writes (a cancellation, a
    heartbeat); the LRU answers when Redis does not (unavailable, evicted, or absent).
    ``max_bytes``: the largest record kept (Redis's value limit, or the LRU's bound).
    """

    def __init__(
        self, memory: MemoryCache, redis: RedisCache | None, *, retention_seconds: int
    ) -> None:
        self.retention_seconds = retention_seconds
        self.max_bytes = memory.max_bytes if redis is None else REDIS_MAX_VALUE_BYTES
        self._memory = memory
        self._redis = redis

    async def get(self, id_: str) -> dict[str, Any] | None:
        """The record, or None when unknown or past its retention."""
        key = f"job:{id_}"
        record = None if self._redis is None else await self._redis.get(key)
        if record is None:
            record = self._memory.get(key)
        if record is None or record["expires_at"] < time.time():
            return None
        return dict(record)

    async def put(self, record: dict[str, Any]) -> None:
        now = time.time()
        record["updated_at"] = now
        record["expires_at"] = now + self.retention_seconds
        key = f"job:{record['id']}"
        self._memory.discard(key)  # never leave an older version behind
        self._memory.set(key, dict(record))
        if self._redis is not None:
            await self._redis.set(key, dict(record))

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.close()


@dataclass(eq=False)
class _Run:
    """A job running in this process."""

    record: dict[str, Any]
    fractions: list[float] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    def report(self, part: int, fraction: float) -> None:
        self.fractions[part] = max(self.fractions[part], min(1.0, fraction))
        mean = sum(self.fractions) / len(self.fractions)
        self.record["progress"] = max(self.record["progress"], mean)


class JobManager:
    """Submits, tracks and cancels jobs; see the module docstring for the policy."""

    def __init__(
        self,
        compute: ComputeService,
        store: JobStore,
        *,
        parallelism: int,
        queue_size: int,
        timeout: float | None,
        lease_seconds: float,
    ) -> None:
        self.compute = compute
        self.store = store
        self.parallelism = parallelism
        self.queue_size = queue_size
        self.timeout = timeout
        self.lease_seconds = lease_seconds
        self._slots = asyncio.Semaphore(parallelism)
        self._runs: dict[str, _Run] = {}
        self._closed = False

    async def submit(self, kind: str, request: Mapping[str, Any]) -> dict[str, Any]:
        """The job of ``request`` (existing, finished at once from the cache, or started)."""
        id_ = job_id(kind, request)
        if id_ in self._runs:
            return self._runs[id_].record
        record = await self.store.get(id_)
        if record is not None and (
            record["status"] == "succeeded" or (record["status"] in ACTIVE and self._alive(record))
        ):
            return record
        cached, _ = await self.compute.cache.get(cache_key(kind, request))
        if id_ in self._runs:  # submitted meanwhile by a concurrent call
            return self._runs[id_].record
        attempts = 0 if record is None or record["status"] not in ACTIVE else record["attempts"]
        fresh = self._new_record(id_, kind, request, attempts)
        if cached is not None:
            fresh.update(status="succeeded", progress=1.0, result=cached)
            await self.store.put(fresh)
            return fresh
        return await self._start(fresh)

    async def get(self, id_: str) -> dict[str, Any] | None:
        """The job's current record (resuming it here if its runner was lost), or None."""
        if id_ in self._runs:
            return self._runs[id_].record
        record = await self.store.get(id_)
        if record is None or record["status"] not in ACTIVE or self._alive(record):
            return record
        if id_ in self._runs:
            return self._runs[id_].record
        if record["attempts"] >= MAX_ATTEMPTS:
            record.update(
                status="failed",
                error={
                    "type": "/problems/runner-lost",
                    "title": "Job runner lost",
                    "status": 503,
                    "detail": f"the job's runner stopped {record['attempts']} times before it "
                    "finished (the API process restarted mid-run); submit it again",
                },
            )
            await self.store.put(record)
            return record
        logger.warning("resuming a job whose runner was lost", extra={"job": id_})
        return await self._start(
            self._new_record(id_, record["kind"], record["request"], record["attempts"])
        )

    async def cancel(self, id_: str) -> dict[str, Any] | None:
        """Cancel the job (its running parts are stopped); a finished job is left as it is."""
        run = self._runs.get(id_)
        record = run.record if run is not None else await self.store.get(id_)
        if record is None or record["status"] not in ACTIVE:
            return record
        record["status"] = "cancelled"
        if run is not None and run.task is not None:
            run.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await run.task
        await self.store.put(record)
        return record

    async def close(self) -> None:
        """Stop the jobs running here; their records stay active and are resumed elsewhere
        (or after a restart) once their lease expires."""
        self._closed = True
        tasks = [run.task for run in self._runs.values() if run.task is not None]
        await asyncio.gather(*(cancel_and_wait(task) for task in tasks))
        await self.store.close()

    def status(self) -> dict[str, Any]:
        """Counts for /readyz."""
        running = sum(1 for run in self._runs.values() if run.record["status"] == "running")
        return {
            "running": running,
            "queued": len(self._runs) - running,
            "queue_size": self.queue_size,
        }

    # -- internals ----------------------------------------------------------------------

    def _alive(self, record: Mapping[str, Any]) -> bool:
        return bool(record["lease_until"] >= time.time())

    def _new_record(
        self, id_: str, kind: str, request: Mapping[str, Any], attempts: int
    ) -> dict[str, Any]:
        now = time.time()
        return {
            "id": id_,
            "kind": kind,
            "status": "queued",
            "progress": 0.0,
            "request": dict(request),
            "attempts": attempts,
            "created_at": now,
            "lease_until": now + self.lease_seconds,
        }

    async def _start(self, record: dict[str, Any]) -> dict[str, Any]:
        if self._closed:
            raise ServiceError("the service is shutting down", retry_after=1)
        if len(self._runs) >= self.queue_size:
            raise SaturatedError(
                f"{self.queue_size} jobs are already queued or running (DEEPKERNEL_JOB_QUEUE_SIZE);"
                " retry later",
                retry_after=5,
            )
        record["attempts"] += 1
        run = _Run(record)
        self._runs[record["id"]] = run
        await self.store.put(record)
        run.task = asyncio.get_running_loop().create_task(self._run(run))
        run.task.add_done_callback(lambda _: self._runs.pop(record["id"], None))
        return record

    async def _run(self, run: _Run) -> None:
        record = run.record
        heartbeat = asyncio.get_running_loop().create_task(self._heartbeat(run))
        try:
            parts = split(record["kind"], record["request"], PARTS_PER_WORKER * self.parallelism)
            run.fractions = [0.0] * len(parts)
            async with asyncio.TaskGroup() as group:
                computing = [group.create_task(self._part(run, i, p)) for i, p in enumerate(parts)]
            result = merge(record["kind"], record["request"], [t.result() for t in computing])
            if size_of(result) > self.store.max_bytes:
                raise ResultTooLargeError(
                    f"the result takes about {size_of(result) / 2**20:.0f} MiB, more than the "
                    f"job store keeps ({self.store.max_bytes / 2**20:.0f} MiB, "
                    "DEEPKERNEL_CACHE_MAX_BYTES); split the request into smaller jobs"
                )
            record.update(status="succeeded", progress=1.0, result=result)
        except asyncio.CancelledError:
            if record["status"] != "cancelled":  # shutting down: leave it to be resumed
                raise
            return
        except BaseException as group_error:
            exc = _first_error(group_error)
            if not isinstance(exc, Exception):
                raise
            if not isinstance(exc, DeepKernelError):
                logger.error("job failed", exc_info=exc, extra={"job": record["id"]})
            record.update(status="failed", error=problem_of(exc))
        finally:
            await cancel_and_wait(heartbeat)
        await self.store.put(record)

    async def _part(self, run: _Run, index: int, request: dict[str, Any]) -> dict[str, Any]:
        kind = run.record["kind"]
        async with self._slots:
            run.record["status"] = "running"
            while True:
                try:
                    outcome = await self.compute.run(
                        kind,
                        request,
                        progress=lambda fraction: run.report(index, fraction),
                        timeout=self.timeout,
                    )
                    break
                except SaturatedError:  # synchronous requests hold the admission slots
                    await asyncio.sleep(SATURATED_RETRY_SECONDS)
        run.report(index, 1.0)
        return outcome.result

    async def _heartbeat(self, run: _Run) -> None:
        """Renew the lease and publish progress; stop if another process cancelled the job."""
        interval = min(HEARTBEAT_SECONDS, self.lease_seconds / 3)
        while True:
            await asyncio.sleep(interval)
            stored = await self.store.get(run.record["id"])
            if stored is not None and stored["status"] == "cancelled":
                run.record["status"] = "cancelled"
                assert run.task is not None
                run.task.cancel()
                return
            run.record["lease_until"] = time.time() + self.lease_seconds
            await self.store.put(run.record)


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` and wait until it has ended, whatever it raised.

    A library can lose a cancellation (turn it into an error it handles), so the request is
    repeated until the task is done. If the caller is cancelled meanwhile, that is re-raised
    once the task has ended.
    """
    caller_cancelled = False
    while not task.done():
        task.cancel()
        try:
            await asyncio.wait({task}, timeout=CANCEL_REPEAT_SECONDS)
        except asyncio.CancelledError:
            caller_cancelled = True
    if not task.cancelled():
        task.exception()  # retrieved: an error of a task being stopped is not news
    if caller_cancelled:
        raise asyncio.CancelledError


def _first_error(exc: BaseException) -> BaseException:
    """The first leaf of a (nested) exception group, or ``exc`` itself."""
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc


def job_store(
    memory_bytes: int, redis_url: str | None, *, redis_prefix: str, retention_seconds: int
) -> JobStore:
    """The store the app uses: Redis under ``<redis_prefix>jobs:`` when configured."""
    redis = None
    if redis_url is not None:
        redis = RedisCache(redis_url, prefix=f"{redis_prefix}jobs:", ttl_seconds=retention_seconds)
    return JobStore(MemoryCache(memory_bytes), redis, retention_seconds=retention_seconds)
