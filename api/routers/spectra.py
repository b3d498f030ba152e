"""POST /v1/spectra."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.routers.compute import AcceptHeader, compute_response, documented_responses
from api.schemas.spectra import SpectraRequest, SpectraResponse
from service.deps import ComputeDep, SettingsDep

router = APIRouter(tags=["spectra"])


@router.post(
    "/v1/spectra",
    response_model=SpectraResponse,
    responses=documented_responses("spectra"),
    name="compute_spectra",
)
async def compute_spectra(
    body: SpectraRequest,
    compute: ComputeDep,
    settings: SettingsDep,
    accept: AcceptHeader = None,
) -> Response:
    """λ_max, λ_min and κ of Θ^l(X, X) and Σ^l(X, X) per depth, beside MATH.md §4's predictions.

    ``Accept: image/png`` returns κ against depth, measured and predicted."""
    return await compute_response(
        "spectra",
        body,
        accept,
        compute,
        settings,
    )
