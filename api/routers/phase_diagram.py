"""POST /v1/phase-diagram."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.routers.compute import AcceptHeader, compute_response, documented_responses
from api.schemas.phase_diagram import PhaseDiagramRequest, PhaseDiagramResponse
from service.deps import ComputeDep, SettingsDep

router = APIRouter(tags=["phase-diagram"])


@router.post(
    "/v1/phase-diagram",
    response_model=PhaseDiagramResponse,
    responses=documented_responses("phase-diagram"),
    name="compute_phase_diagram",
)
async def compute_phase_diagram(
    body: PhaseDiagramRequest,
    compute: ComputeDep,
    settings: SettingsDep,
    accept: AcceptHeader = None,
) -> Response:
    """χ₁, χ_c*, q*, ξ_c* and the phase over a (σ_w², σ_b²) grid, and the critical line.

    ``Accept: image/png`` returns the χ₁ heat map with the critical line."""
    return await compute_response(
        "phase-diagram",
        body,
        accept,
        compute,
        settings,
    )
