"""POST /v1/fixed-points."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.routers.compute import AcceptHeader, compute_response, documented_responses
from api.schemas.fixed_points import FixedPointsRequest, FixedPointsResponse
from service.deps import ComputeDep, SettingsDep

router = APIRouter(tags=["fixed-points"])


@router.post(
    "/v1/fixed-points",
    response_model=FixedPointsResponse,
    responses=documented_responses("fixed-points"),
    name="get_fixed_points",
)
async def get_fixed_points(
    body: FixedPointsRequest,
    compute: ComputeDep,
    settings: SettingsDep,
    accept: AcceptHeader = None,
) -> Response:
    """The mean-field fixed point q*, χ₁, c*, χ_c*, depth scales, phase and NTK constants.

    ``null`` for a quantity that does not exist, with ``notes`` saying why (MATH.md §3)."""
    return await compute_response(
        "fixed-points",
        body,
        accept,
        compute,
        settings,
    )
