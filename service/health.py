"""Operations endpoints: liveness, readiness, Prometheus metrics. Always open (no API key).

Readiness policy: while the worker pool is up the service can answer, so /readyz is 200
with ``"status": "ok"``, or ``"degraded"`` while Redis is unreachable (requests are computed
without the shared cache; a load balancer should keep routing). It is 503 ``"unavailable"``
only when no worker process is alive.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from service.metrics import CONTENT_TYPE, Metrics

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ok", "degraded", "unavailable"] = Field(
        description="ok; degraded: Redis unreachable, computing without it; unavailable: no worker"
    )
    pool: dict[str, Any] = Field(description="worker pool: workers, alive, running, waiting, …")
    cache: dict[str, Any] = Field(description="in-process LRU and Redis state")


@router.get("/healthz", response_model=Health, summary="Liveness")
async def healthz() -> Health:
    """200 while the process serves HTTP."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness",
    responses={503: {"model": Readiness, "description": "no worker process is alive"}},
)
async def readyz(request: Request) -> JSONResponse:
    """Worker pool and cache state; 200 when requests can be computed (even degraded)."""
    pool = request.state.pool.status()
    cache = await request.state.cache.check()
    status = "unavailable" if not pool["ready"] else cache["status"]
    body = Readiness(status=status, pool=pool, cache=cache)
    return JSONResponse(body.model_dump(), status_code=503 if status == "unavailable" else 200)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format"}},
)
async def metrics(request: Request) -> Response:
    """Request latency, cache hits and misses, queue depth, compute time, worker restarts."""
    registry: Metrics = request.state.metrics
    return Response(registry.render(), media_type=CONTENT_TYPE)
