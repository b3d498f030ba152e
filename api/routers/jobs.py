"""/v1/jobs: submit any compute request to run in the background; poll, fetch, cancel.

Jobs accept larger work than the synchronous endpoints: their limits are ``job_max_points``
and ``job_max_work`` (DEEPKERNEL_JOB_MAX_*). The runner and the storage policy (ids,
retention, restarts) are described in :mod:`service.jobs`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Path, Request, Response

from api.limits import check_depth_limit, check_synchronous_limits
from api.negotiation import JSON, NPZ, PNG, check_finite, jsonable, negotiate, render
from api.problems import problem_responses
from api.result_media import RESULT_MEDIA
from api.routers.sweeps import check_sweep_limits
from api.schemas.jobs import Job, JobSubmission
from core.errors import WorkTooLargeError
from service.deps import SettingsDep
from service.jobs import JobManager
from service.settings import Settings

router = APIRouter(tags=["jobs"])

JobId = Annotated[str, Path(pattern="^[0-9a-f]{64}$", description="the job id")]


_JOB_PROBLEMS = {
    404: "No such job: unknown, or past its retention",
    409: "The job has not succeeded (queued, running, failed or cancelled): no result yet",
}


def job_problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI problem+json responses, including the jobs' own 404 and 409."""
    documented = problem_responses(*(s for s in statuses if s not in _JOB_PROBLEMS))
    template = next(iter(problem_responses(422).values()))
    for status in statuses:
        if status in _JOB_PROBLEMS:
            documented[status] = template | {"description": _JOB_PROBLEMS[status]}
    return dict(sorted(documented.items(), key=lambda item: int(item[0])))


def get_jobs(request: Request) -> JobManager:
    jobs: JobManager = request.state.jobs
    return jobs


def job_location(id_: str) -> str:
    return f"/v1/jobs/{id_}"


def check_job_limits(body: Any, request: dict[str, Any], settings: Settings) -> None:
    """422 beyond ``max_depth``; 413 beyond ``job_max_points`` or ``job_max_work``."""
    check_depth_limit(body.kind, request, settings)
    scaled = settings.model_copy(
        update={"max_points": settings.job_max_points, "max_work": settings.job_max_work}
    )
    try:
        if body.kind == "sweeps":
            check_sweep_limits(body.request, scaled)
        else:
            check_synchronous_limits(body.kind, request, scaled)
    except WorkTooLargeError as exc:
        raise WorkTooLargeError(
            f"this job is above the job limits job_max_points = {settings.job_max_points} "
            f"(DEEPKERNEL_JOB_MAX_POINTS) and job_max_work = {settings.job_max_work:.3g} "
            "entry-layers (DEEPKERNEL_JOB_MAX_WORK); split it into smaller jobs. "
            f"The check said: {exc.detail.split('; ')[0]}"
        ) from None


def job_view(record: dict[str, Any]) -> dict[str, Any]:
    """The public fields of a job record, its result as plain JSON."""
    view = {key: record[key] for key in ("id", "kind", "status", "progress")}
    if record["status"] == "succeeded":
        check_finite(record["result"], RESULT_MEDIA[record["kind"]].nullable)
        view["result"] = jsonable(record["result"])
    if record["status"] == "failed":
        view["error"] = record["error"]
    return view


def _json(body: dict[str, Any], status: int, headers: dict[str, str] | None = None) -> Response:
    text = json.dumps(body, allow_nan=False, separators=(",", ":"))
    return Response(text, status, headers, JSON)


async def _record(jobs: JobManager, id_: str) -> dict[str, Any]:
    record = await jobs.get(id_)
    if record is None:
        raise HTTPException(404, f"no job {id_}: unknown, or past its retention")
    return record


_ACCEPTED: dict[int | str, dict[str, Any]] = {
    202: {
        "description": "The job (new, running, or already finished: the same request "
        "is always the same job)",
        "headers": {"Location": {"description": "the job's URL", "schema": {"type": "string"}}},
    }
}
_RESULT: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The result, negotiated like the endpoint itself: "
        "application/json, application/x-npz or image/png where the endpoint offers them",
        "content": {
            JSON: {"schema": {"type": "object"}},
            NPZ: {"schema": {"type": "string", "format": "binary"}},
            PNG: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


@router.post(
    "/v1/jobs",
    status_code=202,
    response_model=Job,
    responses=_ACCEPTED | job_problems(413, 422, 503),
    name="submit_job",
)
async def submit_job(body: JobSubmission, request: Request, settings: SettingsDep) -> Response:
    """Run any compute request in the background; poll the Location for progress."""
    canonical = body.request.canonical()
    check_job_limits(body, canonical, settings)
    record = await get_jobs(request).submit(body.kind, canonical)
    view = {key: record[key] for key in ("id", "kind", "status", "progress")}
    return _json(view, 202, {"Location": job_location(record["id"])})


@router.get(
    "/v1/jobs/{job_id}",
    response_model=Job,
    responses=job_problems(404, 422),
    name="get_job",
)
async def get_job(job_id: JobId, request: Request) -> Response:
    """The job's status and progress; its result when succeeded, its problem when failed."""
    return _json(job_view(await _record(get_jobs(request), job_id)), 200)


@router.get(
    "/v1/jobs/{job_id}/result",
    responses=_RESULT | job_problems(404, 406, 409, 422),
    name="get_job_result",
)
async def get_job_result(
    job_id: JobId,
    request: Request,
    accept: Annotated[str | None, Header(description="the result's media type")] = None,
) -> Response:
    """The result alone (409 while the job has not succeeded)."""
    record = await _record(get_jobs(request), job_id)
    if record["status"] == "failed":
        error = record["error"]
        raise HTTPException(409, f"the job failed: {error['title']}: {error['detail']}")
    if record["status"] != "succeeded":
        raise HTTPException(409, f"the job is {record['status']}: it has no result")
    media = RESULT_MEDIA[record["kind"]]
    media_type = negotiate(accept, media.offered)
    if media_type == PNG:
        from service.figures import render_figure

        png = await asyncio.to_thread(
            render_figure, record["kind"], record["request"], record["result"]
        )
        return Response(png, 200, media_type=PNG)
    return render(record["result"], media_type, nullable=media.nullable)


@router.delete(
    "/v1/jobs/{job_id}",
    response_model=Job,
    responses=job_problems(404, 422),
    name="cancel_job",
)
async def cancel_job(job_id: JobId, request: Request) -> Response:
    """Cancel the job: its running work is stopped. A finished job is left as it is."""
    record = await get_jobs(request).cancel(job_id)
    if record is None:
        raise HTTPException(404, f"no job {job_id}: unknown, or past its retention")
    return _json(job_view(record), 200)
