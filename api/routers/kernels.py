"""POST /v1/kernels."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.routers.compute import AcceptHeader, compute_response, documented_responses
from api.schemas.kernels import KernelsRequest, KernelsResponse
from service.deps import ComputeDep, SettingsDep

router = APIRouter(tags=["kernels"])


@router.post(
    "/v1/kernels",
    response_model=KernelsResponse,
    responses=documented_responses("kernels"),
    name="compute_kernels",
)
async def compute_kernels(
    body: KernelsRequest,
    compute: ComputeDep,
    settings: SettingsDep,
    accept: AcceptHeader = None,
) -> Response:
    """The NNGP Σ^l and NTK Θ^l kernels of a deep network at the requested depths (MATH.md §2)."""
    return await compute_response(
        "kernels",
        body,
        accept,
        compute,
        settings,
    )
