"""POST /v1/kernels: the NNGP and NTK kernels of a deep network (MATH.md §2)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, Field, ValidationInfo, field_validator

from api.schemas.common import FiniteDepth, Matrix, Network, request_config

KernelName = Literal["nngp", "ntk"]
Depths = Annotated[
    list[FiniteDepth],
    Field(min_length=1, max_length=1000),
]


def check_depths(depths: list[int] | None, info: ValidationInfo) -> list[int] | None:
    """Depths must not exceed the network's; returned sorted and without repeats."""
    if depths is None:
        return None
    network = info.data.get("network")
    depth = getattr(network, "depth", None)
    if isinstance(depth, int) and max(depths) > depth:
        raise ValueError(
            f"every depth must be ≤ network.depth = {depth}; got {max(depths)}: "
            "lower it or raise network.depth"
        )
    return sorted(set(depths))


def check_same_features(x: list[list[float]] | None, info: ValidationInfo, other: str) -> None:
    """``x`` must have as many features (columns) as the field ``other``."""
    reference = info.data.get(other)
    if x is not None and reference is not None and len(x[0]) != len(reference[0]):
        raise ValueError(
            f"has {len(x[0])} features per row but {other} has {len(reference[0])}; "
            "both must have the same input dimension"
        )


class KernelsRequest(BaseModel):
    """Inputs x1 [n1][d] and optionally x2 [n2][d]; K(x1, x2), or K(x1, x1) without x2."""

    model_config = request_config(
        {
            "network": {"activation": "relu", "sigma_w2": 2.0, "sigma_b2": 0.1, "depth": 20},
            "x1": [[1.0, 0.0, -1.0], [0.5, 0.5, 1.0], [-1.0, 1.0, 0.0]],
        },
        {
            "network": {"activation": "erf", "sigma_w2": 1.5, "sigma_b2": 0.05, "depth": 50},
            "x1": [[1.0, 0.0], [0.6, 0.8]],
            "x2": [[0.0, 1.0], [-1.0, 0.0], [0.8, -0.6]],
            "kernels": ["ntk"],
            "depths": [1, 10, 50],
        },
    )

    network: Network
    x1: Matrix
    x2: Matrix | None = Field(
        default=None, description="[n2][d] second inputs (default: x1, giving K(x1, x1))"
    )
    kernels: list[KernelName] = Field(
        default=["nngp", "ntk"], min_length=1, max_length=2, description="which kernels"
    )
    depths: Depths | None = Field(
        default=None, description="depths ≤ network.depth, returned sorted (default [depth])"
    )

    @field_validator("depths")
    @classmethod
    def _depths(cls, depths: list[int] | None, info: ValidationInfo) -> list[int] | None:
        return check_depths(depths, info)

    @field_validator("x2")
    @classmethod
    def _same_features(
        cls, x2: list[list[float]] | None, info: ValidationInfo
    ) -> list[list[float]] | None:
        check_same_features(x2, info, "x1")
        return x2

    @field_validator("kernels")
    @classmethod
    def _unique(cls, kernels: list[str]) -> list[str]:
        return [name for name in ("nngp", "ntk") if name in kernels]

    def canonical(self) -> dict[str, Any]:
        return {
            "network": self.network.model_dump(),
            "x1": np.asarray(self.x1, dtype=np.float64),
            "x2": None if self.x2 is None else np.asarray(self.x2, dtype=np.float64),
            "kernels": self.kernels,
            "depths": self.depths or [self.network.depth],
        }


Kernel = list[list[list[float]]]


class KernelsResponse(BaseModel):
    """The true kernel at ``depths[i]`` is ``ntk[i] × 10^ntk_log10_scale[i]`` (same for nngp)."""

    depths: list[int]
    nngp: Kernel | None = Field(description="[len(depths)][n1][n2]; null if not requested")
    ntk: Kernel | None = Field(description="[len(depths)][n1][n2]; null if not requested")
    nngp_log10_scale: list[float] | None = Field(description="one per depth, usually 0")
    ntk_log10_scale: list[float] | None = Field(description="one per depth, usually 0")
    method: str = Field(description="how the Gaussian expectations were computed")
