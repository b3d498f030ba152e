"""The Dask backend: a worker killed in the middle of a job (Dask re-runs its tasks on the
other worker), and a scheduler that cannot be reached."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from core.activations import get_activation
from core.phase_diagram import phase_diagram
from service.app import create_app
from service.settings import Settings
from tests.conftest import open_client
from tests.jobs.conftest import SLOW_RUNNER, phase_diagram_job, wait_finished, wait_progress

pytestmark = pytest.mark.anyio


async def test_a_job_survives_a_dask_worker_killed_mid_job(dask_address: str) -> None:
    from distributed import Client

    settings = Settings(
        workers=2, queue_size=8, redis_url=None, dask_scheduler=dask_address, api_keys=""
    )
    async with (
        open_client(create_app(settings, runner=SLOW_RUNNER)) as http,
        Client(dask_address, asynchronous=True) as client,
    ):
        submitted = await http.post(
            "/v1/jobs", json=phase_diagram_job(num_w2=6, num_b2=16, activation="erf")
        )
        location = submitted.headers["location"]
        assert (await wait_progress(http, location))["status"] == "running"
        processing = await client.processing()
        busy = [address for address, keys in processing.items() if keys]
        assert busy, f"no Dask worker is computing: {processing}"
        pids = await client.run(os.getpid, workers=busy[:1])
        os.kill(pids[busy[0]], signal.SIGKILL)

        job = await wait_finished(http, location, seconds=90)
        assert job["status"] == "succeeded", job.get("error")
        expected = phase_diagram(
            get_activation({"name": "erf"}), np.linspace(0.5, 3.0, 6), np.linspace(0.0, 0.5, 16)
        )
        got = np.array(job["result"]["chi_1"], dtype=float)
        np.testing.assert_allclose(got, expected.chi_1, rtol=1e-12, equal_nan=True)
        await client.wait_for_workers(2, timeout=60)  # the nanny restarted the killed one


async def test_an_unreachable_scheduler_is_a_clear_start_up_error() -> None:
    from service.dask_backend import DaskBackend
    from tests.live_server import free_port

    address = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    backend = DaskBackend(address, queue_size=1, connect_timeout=0.5)
    with pytest.raises(RuntimeError, match="DEEPKERNEL_DASK_SCHEDULER") as raised:
        await backend.start()
    assert address in str(raised.value)
