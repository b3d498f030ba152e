"""POST /v1/fixed-points: the mean-field fixed point of one (activation, σ_w², σ_b²)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from api.schemas.common import (
    Activation,
    NonNegativeVariance,
    PositiveVariance,
    request_config,
)

Phase = Literal["ordered", "chaotic", "critical"]

#: most points of the correlation map returned with the fixed point
MAX_MAP_POINTS = 1001


class FixedPointsRequest(BaseModel):
    """An activation and the hidden layers' variances (depth plays no part)."""

    model_config = request_config(
        {"activation": "tanh", "sigma_w2": 1.5, "sigma_b2": 0.05},
        {
            "activation": {"name": "leaky_relu", "alpha": 0.1},
            "sigma_w2": 1.2,
            "sigma_b2": 0.1,
            "correlation_map": 5,
        },
    )

    activation: Activation
    sigma_w2: PositiveVariance = Field(description="weight variance σ_w²")
    sigma_b2: NonNegativeVariance = Field(description="bias variance σ_b²")
    correlation_map: int = Field(
        default=0,
        ge=0,
        le=MAX_MAP_POINTS,
        description="return the correlation map f(c) and its slope f'(c) at q* on this many "
        "evenly spaced c in [−1, 1], for plotting (0: none)",
    )

    def canonical(self) -> dict[str, Any]:
        return self.model_dump()


class Convergence(BaseModel):
    """How an iterative solve ended (in the style of scipy's RootResults)."""

    converged: bool
    iterations: int
    residual: float | None
    message: str


class CorrelationMapCurve(BaseModel):
    """c ↦ f(c) = (σ_w² E[φ(u)φ(v)] + σ_b²)/q* at (u, v) ~ N(0, q*[[1, c], [c, 1]]), and
    f'(c) = σ_w² E[φ'(u)φ'(v)] (MATH.md §3): f(1) = 1, f'(1) = χ₁, f(c*) = c*."""

    c: list[float] = Field(description="the correlations, evenly spaced in [−1, 1]")
    f: list[float] = Field(description="the correlation one layer later, f(c)")
    f_prime: list[float] = Field(description="the slope f'(c)")


class FixedPointsResponse(BaseModel):
    """MATH.md §3. ``null`` where a quantity does not exist; ``notes`` says why."""

    q_star: float | None = Field(description="fixed point q* of the length map")
    chi_1: float | None = Field(description="χ₁, slope of the correlation map at c = 1")
    c_star: float | None = Field(description="stable fixed point c* of the correlation map")
    chi_c_star: float | None = Field(description="χ_c* = f'(c*)")
    xi_1: float | None = Field(description="depth scale ξ₁ = −1/ln χ₁ (layers)")
    xi_c_star: float | None = Field(description="depth scale ξ_c* = −1/ln χ_c* (layers)")
    xi_q: float | None = Field(description="depth scale on which q converges (layers)")
    phase: Phase | None = Field(description="ordered (χ₁<1), chaotic (χ₁>1) or critical")
    p_star: float | None = Field(description="NTK diagonal fixed point q*/(1−χ₁), ordered phase")
    p_ab_star: float | None = Field(
        description="NTK off-diagonal fixed point q*c*/(1−χ_c*), chaotic phase"
    )
    notes: list[str] = Field(description="why a quantity is null, and other caveats")
    convergence: dict[str, Convergence] = Field(
        description="per solved quantity (q_star, c_star): how its iteration ended"
    )
    correlation_map: CorrelationMapCurve | None = Field(
        default=None,
        description="the correlation map, when asked for and q* > 0 exists (else a note says why)",
    )
