"""POST /v1/sweeps."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.limits import EIGH_WORK
from api.routers.compute import AcceptHeader, compute_response, documented_responses
from api.schemas.sweeps import SweepsRequest, SweepsResponse
from core.errors import InvalidInputError, WorkTooLargeError
from service.deps import ComputeDep, SettingsDep
from service.settings import Settings

router = APIRouter(tags=["sweeps"])

_JOBS = 'submit the same body as a job: POST /v1/jobs with {"kind": "sweeps", "request": ...}'


def sweep_work(body: SweepsRequest) -> float:
    """Entry-layers of a sweep: per σ_w², one recursion (n_train + n_test)·n_train·max(depths)
    and two eigendecompositions (EIGH_WORK·n³ each) per depth."""
    n, m = len(body.x_train), len(body.x_test)
    row = (n + m) * n * max(body.depths) + 2 * len(body.depths) * EIGH_WORK * n**3
    return body.sigma_w2.num * row


def check_sweep_limits(body: SweepsRequest, settings: Settings) -> None:
    """422 beyond ``max_depth``; 413 beyond the synchronous points and work limits."""
    if max(body.depths) > settings.max_depth:
        raise InvalidInputError(
            f"depth {max(body.depths)} exceeds the service's maximum depth "
            f"{settings.max_depth} (DEEPKERNEL_MAX_DEPTH)",
            field="depths",
        )
    points = len(body.x_train) + len(body.x_test)
    if points > settings.max_points:
        raise WorkTooLargeError(
            f"x_train and x_test hold {points} points together, above the synchronous limit "
            f"max_points = {settings.max_points} (DEEPKERNEL_MAX_POINTS); {_JOBS}"
        )
    work = sweep_work(body)
    if work > settings.max_work:
        raise WorkTooLargeError(
            f"this sweep is about {work:.3g} entry-layers of work, above the synchronous "
            f"limit max_work = {settings.max_work:.3g} (DEEPKERNEL_MAX_WORK); {_JOBS}"
        )


@router.post(
    "/v1/sweeps",
    response_model=SweepsResponse,
    responses=documented_responses("sweeps"),
    name="compute_sweeps",
)
async def compute_sweeps(
    body: SweepsRequest,
    compute: ComputeDep,
    settings: SettingsDep,
    accept: AcceptHeader = None,
) -> Response:
    """Train and test losses (accuracies for class labels) and κ over a (σ_w², depth) grid.

    Gradient flow on the NTK with η = 2/λ_max for each time t, on the caller's data; the
    depth scales ξ₁ (ordered) and ξ* (chaotic) per σ_w² (MATH.md §4–5). ``Accept:
    image/png`` returns the heat maps with the ξ curves."""
    check_sweep_limits(body, settings)
    return await compute_response(
        "sweeps",
        body,
        accept,
        compute,
        settings,
    )
