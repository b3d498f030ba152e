"""POST /v1/predictions."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.routers.compute import AcceptHeader, compute_response, documented_responses
from api.schemas.predictions import PredictionsRequest, PredictionsResponse
from service.deps import ComputeDep, SettingsDep

router = APIRouter(tags=["predictions"])


@router.post(
    "/v1/predictions",
    response_model=PredictionsResponse,
    responses=documented_responses("predictions"),
    name="compute_predictions",
)
async def compute_predictions(
    body: PredictionsRequest,
    compute: ComputeDep,
    settings: SettingsDep,
    accept: AcceptHeader = None,
) -> Response:
    """Mean predictions of the infinitely wide network after training for times t (MATH.md §5–6).

    ``Accept: image/png`` returns the predictions against training time, and against depth
    (1 to the network's depth, or to 1000 beside the infinite-depth limit) at the longest
    time asked for."""
    return await compute_response(
        "predictions",
        body,
        accept,
        compute,
        settings,
    )
