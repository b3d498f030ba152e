"""The worker pool, with the test-only runner of tests/service/fake_tasks.py."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator

import pytest

from core.errors import InvalidInputError
from service.errors import ComputeTimeoutError, SaturatedError, WorkerCrashedError, WorkerTaskError
from service.pool import ProcessPool

pytestmark = pytest.mark.anyio
FAKE_RUNNER = "tests.service.fake_tasks:execute"


@pytest.fixture
async def pool() -> AsyncIterator[ProcessPool]:
    pool = ProcessPool(workers=2, threads_per_worker=1, queue_size=3, runner=FAKE_RUNNER)
    await pool.start()
    yield pool
    await pool.close()


async def until(condition: object, limit: float = 30.0) -> None:
    """Wait (polling) until ``condition()`` holds; fail after ``limit`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not condition():  # type: ignore[operator]
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_results_and_core_errors_come_back_as_raised(pool: ProcessPool) -> None:
    result = await pool.run("echo", {"value": [1, "a"], "n": 4})
    assert result["value"] == [1, "a"] and result["array"].tolist() == [0, 1 / 3, 2 / 3, 1]
    with pytest.raises(InvalidInputError) as caught:
        await pool.run("fail", {"detail": "sigma_w2 must be positive", "field": "sigma_w2"})
    assert type(caught.value) is InvalidInputError
    assert (caught.value.detail, caught.value.field) == ("sigma_w2 must be positive", "sigma_w2")
    with pytest.raises(WorkerTaskError, match="ZeroDivisionError"):
        await pool.run("bug", {})
    assert pool.restarts == 0  # errors do not cost a worker


async def test_progress_reaches_the_caller(pool: ProcessPool) -> None:
    seen: list[float] = []
    await pool.run("sleep", {"seconds": 0.04, "steps": 4}, progress=seen.append)
    assert seen == [0.25, 0.5, 0.75, 1.0]


async def test_a_crashed_worker_fails_only_its_task_and_is_replaced(pool: ProcessPool) -> None:
    before = pool.pids()
    with pytest.raises(WorkerCrashedError, match="exit code 3") as caught:
        await pool.run("crash", {"code": 3})
    assert caught.value.status == 503 and caught.value.headers == {"Retry-After": "1"}
    await until(lambda: pool.status()["alive"] == 2 and pool.restarts == 1)
    assert len(pool.pids() - before) == 1
    results = await asyncio.gather(*(pool.run("echo", {"value": i}) for i in range(3)))
    assert [r["value"] for r in results] == [0, 1, 2]


async def test_a_timeout_kills_the_work_and_restores_capacity(pool: ProcessPool) -> None:
    before = pool.pids()
    with pytest.raises(ComputeTimeoutError):
        await pool.run("sleep", {"seconds": 60}, timeout=0.5)
    await until(lambda: pool.status()["alive"] == 2 and pool.restarts == 1)
    (killed,) = before - pool.pids()
    assert not is_alive(killed)
    assert pool.status()["running"] == 0
    slept = await asyncio.gather(*(pool.run("sleep", {"seconds": 0.05}) for _ in range(2)))
    assert {r["pid"] for r in slept} <= pool.pids()


async def test_admission_is_bounded(pool: ProcessPool) -> None:
    busy = [asyncio.create_task(pool.run("sleep", {"seconds": 0.5})) for _ in range(3)]
    await until(lambda: pool.status()["running"] == 2)
    assert pool.status()["waiting"] == 1
    with pytest.raises(SaturatedError) as caught:
        await pool.run("echo", {})
    assert caught.value.status == 503 and caught.value.retry_after == 1
    await asyncio.gather(*busy)
    assert (await pool.run("echo", {"value": 1}))["value"] == 1


async def test_blas_threads_are_limited_inside_workers(pool: ProcessPool) -> None:
    inside = await pool.run("threads", {})
    assert inside["pid"] in pool.pids() and inside["pid"] != os.getpid()
    assert inside["blas"] and set(inside["blas"]) == {1}
    assert inside["env"] == {"OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
    wider = ProcessPool(workers=1, threads_per_worker=2, queue_size=1, runner=FAKE_RUNNER)
    await wider.start()
    try:
        assert set((await wider.run("threads", {}))["blas"]) == {2}
    finally:
        await wider.close()


async def test_a_runner_that_cannot_load_is_reported_not_crash_looped() -> None:
    broken = ProcessPool(
        workers=1, threads_per_worker=1, queue_size=1, runner="tests.service.absent:execute"
    )
    await broken.start()
    try:
        with pytest.raises(WorkerTaskError, match=r"could not load tests\.service\.absent"):
            await broken.run("echo", {})
        assert broken.restarts == 0
    finally:
        await broken.close()


async def test_a_worker_that_died_while_idle_is_replaced_before_use(pool: ProcessPool) -> None:
    victim = min(pool.pids())
    os.kill(victim, signal.SIGKILL)
    await until(lambda: not is_alive(victim) or victim not in pool.pids())
    results = await asyncio.gather(*(pool.run("echo", {"value": i}) for i in range(3)))
    assert [r["value"] for r in results] == [0, 1, 2]  # no request paid for the death
    await until(lambda: pool.status()["alive"] == 2 and pool.restarts == 1)
