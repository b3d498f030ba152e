"""GET /v1/activations."""

from __future__ import annotations

import math

from fastapi import APIRouter

from api.schemas.activations import ActivationsResponse
from core.activations import list_activations

router = APIRouter(tags=["activations"])


@router.get("/v1/activations", response_model=ActivationsResponse, name="list_activations")
async def list_activations_route() -> ActivationsResponse:
    """The supported activations: name, parameters, closed form or numerical quadrature."""
    return ActivationsResponse.model_validate(
        {
            "activations": [
                {
                    "name": info.name,
                    "parameters": [
                        {
                            "name": p.name,
                            "default": p.default,
                            "lower": p.lower if math.isfinite(p.lower) else None,
                            "upper": p.upper if math.isfinite(p.upper) else None,
                            "description": p.description,
                        }
                        for p in info.parameters
                    ],
                    "closed_form": info.closed_form,
                    "formula": info.formula,
                }
                for info in list_activations()
            ]
        }
    )
