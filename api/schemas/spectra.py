"""POST /v1/spectra: eigenvalues of Σ^l(X, X) and Θ^l(X, X) against depth (MATH.md §4)."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, Field, ValidationInfo, field_validator

from api.schemas.common import Infinity, Matrix, NetworkAnyDepth, request_config
from api.schemas.kernels import Depths, check_depths


class SpectraRequest(BaseModel):
    """Inputs x [n][d]; spectra at each requested depth (default: the network's depth, which
    may be "inf" for the infinite-depth limit)."""

    model_config = request_config(
        {
            "network": {"activation": "tanh", "sigma_w2": 1.2, "sigma_b2": 0.05, "depth": 100},
            "x": [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.6, 0.8, 0.0], [0.0, 0.6, 0.8]],
            "depths": [1, 10, 50, 100],
        },
        {
            "network": {"activation": "relu", "sigma_w2": 2.5, "sigma_b2": 0.0, "depth": 30},
            "x": [[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0]],
            "eigenvalues": True,
        },
    )

    network: NetworkAnyDepth
    x: Matrix
    depths: Depths | None = Field(
        default=None, description="depths ≤ network.depth, returned sorted (default [depth])"
    )
    eigenvalues: bool = Field(default=False, description="also return every eigenvalue")

    @field_validator("depths")
    @classmethod
    def _depths(cls, depths: list[int] | None, info: ValidationInfo) -> list[int] | None:
        return check_depths(depths, info)

    def canonical(self) -> dict[str, Any]:
        return {
            "network": self.network.model_dump(),
            "x": np.asarray(self.x, dtype=np.float64),
            "depths": self.depths,
            "eigenvalues": self.eigenvalues,
        }


class Spectrum(BaseModel):
    """One kernel's spectrum per depth. Eigenvalues are in units of 10^log10_scale."""

    lambda_max: list[float]
    lambda_min: list[float] = Field(
        description="where not resolved (see condition_number_is_lower_bound): the resolution"
    )
    condition_number: list[float] = Field(
        description="λ_max/λ_min; the largest float64 where κ exceeds the float64 range"
    )
    condition_number_is_lower_bound: list[bool] = Field(
        description="true where λ_min is below float64's resolution: the true κ is larger"
    )
    log10_scale: list[float] = Field(description="the true eigenvalue is the value × 10^scale")
    log10_lambda_max: list[float] = Field(description="log10 of the true λ_max")
    log10_lambda_min: list[float | None] = Field(
        description="log10 of the true λ_min; null where λ_min = 0 exactly (infinite depth)"
    )
    log10_condition_number: list[float | None] = Field(
        description="log10 of the true κ; null where κ = ∞ exactly"
    )
    eigenvalues: list[list[float]] | None = Field(
        default=None, description="[len(depths)][n], ascending; on request"
    )


class SpectraResponse(BaseModel):
    depths: list[int | Infinity]
    ntk: Spectrum
    nngp: Spectrum
    theory: dict[str, Any] = Field(
        description="the phase and the large-depth predictions of MATH.md §4 for this data "
        "(phase, chi_1, q_star, p_star, c_star, limits and rates per phase, summary)"
    )
    notes: list[str]
