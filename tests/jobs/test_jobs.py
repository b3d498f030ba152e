"""/v1/jobs end to end, on the local process pool and on a Dask cluster (``job_settings``)."""

from __future__ import annotations

import asyncio
import io
import itertools
import re
from pathlib import Path

import httpx
import numpy as np
import pytest

from core.activations import get_activation
from core.phase_diagram import phase_diagram
from service.settings import Settings
from service.tasks import split
from tests.jobs.conftest import ACTIVE, phase_diagram_job, wait_finished, wait_progress
from tests.jobs.slow_tasks import DELAY_SECONDS, FAILING_SIGMA_B2

pytestmark = pytest.mark.anyio
GRIDS = ("chi_1", "chi_c_star", "q_star", "c_star", "xi_c_star")


def computations(metrics_text: str, kind: str) -> float:
    """Successful computations of ``kind`` so far, from /metrics."""
    pattern = (
        r'^deepkernel_compute_duration_seconds_count\{kind="'
        + re.escape(kind)
        + r'",outcome="ok"\} (\S+)$'
    )
    found = re.search(pattern, metrics_text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def parallelism(settings: Settings) -> int:
    return max(1, settings.admission_limit // 2) if settings.dask_scheduler else settings.workers


async def test_a_split_phase_diagram_job_equals_the_core_on_the_whole_grid(
    jobs_client: httpx.AsyncClient,
) -> None:
    body = phase_diagram_job(
        num_w2=20, num_b2=8, activation="erf"
    )  # 160 cells: above the synchronous limit
    assert (await jobs_client.post("/v1/phase-diagram", json=body["request"])).status_code == 413
    submitted = await jobs_client.post("/v1/jobs", json=body)
    assert submitted.status_code == 202
    job_id = submitted.json()["id"]
    assert submitted.headers["location"] == f"/v1/jobs/{job_id}"
    assert re.fullmatch("[0-9a-f]{64}", job_id)
    job = await wait_finished(jobs_client, submitted.headers["location"])
    assert job["status"] == "succeeded" and job["progress"] == 1.0

    expected = phase_diagram(
        get_activation({"name": "erf"}), np.linspace(0.5, 3.0, 20), np.linspace(0.0, 0.5, 8)
    ).to_dict()
    result = job["result"]
    for name in GRIDS:
        got = np.array(result[name], dtype=float)  # null -> NaN
        assert got.shape == (8, 20)
        np.testing.assert_allclose(got, expected[name], rtol=1e-12, equal_nan=True)
    assert result["phase"] == expected["phase"].tolist()
    np.testing.assert_array_equal(result["sigma_b2"], expected["sigma_b2"])
    np.testing.assert_allclose(
        result["critical_line"]["sigma_w2"], expected["critical_line"]["sigma_w2"], rtol=1e-12
    )

    npz = await jobs_client.get(
        f"/v1/jobs/{job_id}/result", headers={"accept": "application/x-npz"}
    )
    assert npz.status_code == 200 and npz.headers["content-type"] == "application/x-npz"
    arrays = np.load(io.BytesIO(npz.content))
    np.testing.assert_allclose(arrays["chi_1"], expected["chi_1"], rtol=1e-12, equal_nan=True)
    np.testing.assert_array_equal(
        arrays["critical_line.sigma_b2"], result["critical_line"]["sigma_b2"]
    )
    as_json = await jobs_client.get(f"/v1/jobs/{job_id}/result")
    assert as_json.json() == result
    png = await jobs_client.get(f"/v1/jobs/{job_id}/result", headers={"accept": "image/png"})
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n") and len(png.content) > 10_000
    refused = await jobs_client.get(f"/v1/jobs/{job_id}/result", headers={"accept": "text/csv"})
    assert refused.status_code == 406


async def test_the_same_submission_is_one_job_and_one_computation(
    jobs_client: httpx.AsyncClient, job_settings: Settings
) -> None:
    body = phase_diagram_job(num_w2=12, num_b2=6, activation="erf")
    first, second = await asyncio.gather(
        jobs_client.post("/v1/jobs", json=body), jobs_client.post("/v1/jobs", json=body)
    )
    assert first.json()["id"] == second.json()["id"]
    job = await wait_finished(jobs_client, first.headers["location"])
    assert job["status"] == "succeeded"
    parts = split("phase-diagram", _canonical(body), 2 * parallelism(job_settings))
    metrics = (await jobs_client.get("/metrics")).text
    assert computations(metrics, "phase-diagram") == len(parts) > 1

    again = await jobs_client.post("/v1/jobs", json=body)  # finished: answered at once
    assert again.status_code == 202
    assert again.json() == {
        "id": job["id"],
        "kind": "phase-diagram",
        "status": "succeeded",
        "progress": 1.0,
    }
    metrics = (await jobs_client.get("/metrics")).text
    assert computations(metrics, "phase-diagram") == len(parts)


def _canonical(body: dict[str, object]) -> dict[str, object]:
    from api.schemas.phase_diagram import PhaseDiagramRequest

    return PhaseDiagramRequest.model_validate(body["request"]).canonical()


async def test_progress_only_increases_while_the_job_runs_and_the_result_is_409_until_done(
    jobs_client: httpx.AsyncClient,
) -> None:
    submitted = await jobs_client.post("/v1/jobs", json=phase_diagram_job(num_w2=6, num_b2=24))
    location = submitted.headers["location"]
    early = await jobs_client.get(f"{location}/result")
    assert early.status_code == 409
    assert early.headers["content-type"] == "application/problem+json"
    assert "has no result" in early.json()["detail"]
    seen: list[float] = []
    for _ in range(1200):
        job = (await jobs_client.get(location)).json()
        seen.append(job["progress"])
        if job["status"] not in ACTIVE:
            break
        await asyncio.sleep(0.05)
    assert job["status"] == "succeeded"
    assert all(0.0 <= p <= 1.0 for p in seen)
    assert all(b >= a for a, b in itertools.pairwise(seen)), seen
    moving = sorted({p for p in seen if 0.0 < p < 1.0})
    assert len(moving) >= 3, f"progress did not move while running: {seen}"
    assert seen[-1] == 1.0


async def test_cancelling_stops_the_job_and_frees_capacity(
    jobs_client: httpx.AsyncClient, job_settings: Settings, steps_file: Path
) -> None:
    submitted = await jobs_client.post("/v1/jobs", json=phase_diagram_job(num_w2=6, num_b2=32))
    location = submitted.headers["location"]
    running = await wait_progress(jobs_client, location)
    assert running["status"] == "running" and running["progress"] < 0.5
    cancelled = await jobs_client.delete(location)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert (await jobs_client.get(location)).json()["status"] == "cancelled"
    assert (await jobs_client.get(f"{location}/result")).status_code == 409
    await asyncio.sleep(2 * DELAY_SECONDS)  # a part between two reports ends at the next one
    steps = steps_file.read_text()
    await asyncio.sleep(4 * DELAY_SECONDS)  # a live part would have reported again by now
    assert steps_file.read_text() == steps, "the cancelled job's work went on"

    ready = (await jobs_client.get("/readyz")).json()
    assert ready["pool"]["running"] == 0
    if job_settings.dask_scheduler is None:  # both busy workers are killed and replaced
        for _ in range(200):
            if ready["pool"]["restarts"] >= 2:
                break
            await asyncio.sleep(0.05)
            ready = (await jobs_client.get("/readyz")).json()
        assert ready["pool"]["restarts"] == 2
    follow_up = await jobs_client.post(
        "/v1/jobs",
        json={
            "kind": "fixed-points",
            "request": {"activation": "erf", "sigma_w2": 1.5, "sigma_b2": 0.1},
        },
    )
    assert (await wait_finished(jobs_client, follow_up.headers["location"]))[
        "status"
    ] == "succeeded"
    resubmitted = await jobs_client.post("/v1/jobs", json=phase_diagram_job(num_w2=6, num_b2=32))
    assert resubmitted.json()["id"] == running["id"]
    assert resubmitted.json()["status"] in ACTIVE  # a cancelled job submitted again runs again
    assert (await jobs_client.delete(location)).json()["status"] == "cancelled"


async def test_a_failed_job_reports_the_problem(jobs_client: httpx.AsyncClient) -> None:
    body = {
        "kind": "fixed-points",
        "request": {"activation": "tanh", "sigma_w2": 1.5, "sigma_b2": FAILING_SIGMA_B2},
    }
    submitted = await jobs_client.post("/v1/jobs", json=body)
    job = await wait_finished(jobs_client, submitted.headers["location"])
    assert job["status"] == "failed"
    error = job["error"]
    assert error["status"] == 422 and error["type"] == "/problems/numerical-limit"
    assert error["errors"][0]["field"] == "sigma_b2"
    assert "stand-in failure" in error["detail"]
    result = await jobs_client.get(f"{submitted.headers['location']}/result")
    assert result.status_code == 409
    assert "stand-in failure" in result.json()["detail"]


async def test_an_invalid_submission_is_422_naming_the_field_in_the_submitted_body(
    jobs_client: httpx.AsyncClient,
) -> None:
    body = {
        "kind": "fixed-points",
        "request": {"activation": "nope", "sigma_w2": -1.0, "sigma_b2": 0.1},
    }
    refused = await jobs_client.post("/v1/jobs", json=body)
    assert refused.status_code == 422
    fields = {error["field"]: error["message"] for error in refused.json()["errors"]}
    assert set(fields) == {"request.activation", "request.sigma_w2"}
    assert "unknown activation 'nope'" in fields["request.activation"]
    assert "greater than or equal to" in fields["request.sigma_w2"]
