"""POST /v1/phase-diagram: mean-field quantities over a (σ_w², σ_b²) grid."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from api.schemas.common import Activation, SigmaB2Range, SigmaW2Range, request_config

Grid = list[list[float | None]]


class PhaseDiagramRequest(BaseModel):
    """An activation and the two axes of the grid."""

    model_config = request_config(
        {
            "activation": "tanh",
            "sigma_w2": {"start": 0.5, "stop": 3.0, "num": 26},
            "sigma_b2": {"start": 0.0, "stop": 0.5, "num": 11},
        },
        {
            "activation": "relu",
            "sigma_w2": {"start": 1.0, "stop": 3.0, "num": 21},
            "sigma_b2": {"start": 0.0, "stop": 0.2, "num": 5},
        },
    )

    activation: Activation
    sigma_w2: SigmaW2Range = Field(description="the σ_w² axis (columns of every grid)")
    sigma_b2: SigmaB2Range = Field(description="the σ_b² axis (rows of every grid)")

    def canonical(self) -> dict[str, Any]:
        return self.model_dump()

    @property
    def cells(self) -> int:
        return self.sigma_w2.num * self.sigma_b2.num


class CriticalLine(BaseModel):
    """The order-to-chaos σ_w² at each σ_b² of the grid that has a transition."""

    sigma_b2: list[float]
    sigma_w2: list[float]


class PhaseDiagramResponse(BaseModel):
    """Grids have shape [num_b2][num_w2]; ``null`` where the quantity does not exist."""

    activation: str = Field(description="the activation, with its parameters")
    sigma_w2: list[float] = Field(description="the σ_w² axis")
    sigma_b2: list[float] = Field(description="the σ_b² axis")
    chi_1: Grid
    chi_c_star: Grid
    q_star: Grid
    c_star: Grid
    xi_c_star: Grid
    phase: list[list[Literal["ordered", "chaotic", "critical"] | None]] = Field(
        description="null where q* does not exist"
    )
    critical_line: CriticalLine = Field(
        description="whether or not it falls inside the requested σ_w² range; σ_b² values "
        "without a transition are omitted"
    )
