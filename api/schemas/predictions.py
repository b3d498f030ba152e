"""POST /v1/predictions: the mean prediction of a trained infinitely wide network (MATH.md §5–6)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, Field, ValidationInfo, field_validator

from api.schemas.common import (
    Coordinate,
    Infinity,
    Matrix,
    NetworkAnyDepth,
    rectangular,
    request_config,
)
from api.schemas.kernels import check_same_features

Time = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0, le=1e300)] | Infinity
Targets = (
    Annotated[list[Coordinate], Field(min_length=1, description="[n]: one output")]
    | Annotated[
        list[Annotated[list[Coordinate], Field(min_length=1)]],
        Field(min_length=1, description="[n][k]: k outputs"),
    ]
)


class PredictionsRequest(BaseModel):
    """Training data (x_train, y_train), test inputs x_test, the kernel and training times."""

    model_config = request_config(
        {
            "network": {"activation": "relu", "sigma_w2": 1.5, "sigma_b2": 0.1, "depth": 30},
            "x_train": [[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]],
            "y_train": [1.0, -1.0, 1.0, -1.0],
            "x_test": [[0.6, 0.8], [-0.8, 0.6]],
            "t": [0.5, 5.0, "inf"],
        },
        {
            "network": {"activation": "erf", "sigma_w2": 1.2, "sigma_b2": 0.05, "depth": "inf"},
            "x_train": [[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]],
            "y_train": [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]],
            "x_test": [[0.8, 0.6]],
            "kernel": "ntk",
        },
    )

    network: NetworkAnyDepth
    x_train: Matrix
    y_train: Targets
    x_test: Matrix
    kernel: Literal["ntk", "nngp"] = Field(
        default="ntk", description="ntk: gradient-flow training; nngp: Gaussian-process posterior"
    )
    t: list[Time] = Field(
        default=["inf"],
        min_length=1,
        max_length=1000,
        description='training times (numbers ≥ 0 or "inf"), in units where η = learning_rate',
    )
    learning_rate: float | None = Field(
        default=None,
        strict=True,
        allow_inf_nan=False,
        gt=0,
        le=1e300,
        description="η; default 2/λ_max of the training kernel",
    )
    diag_reg: float = Field(
        default=0.0,
        strict=True,
        allow_inf_nan=False,
        ge=0,
        le=1e12,
        description="added to the diagonal of the training kernel before solving",
    )
    diag_reg_relative: bool = Field(
        default=False, description="if true, diag_reg is multiplied by trace/n of that kernel"
    )

    @field_validator("y_train")
    @classmethod
    def _rows_match(cls, y: list[Any], info: ValidationInfo) -> list[Any]:
        x_train = info.data.get("x_train")
        if x_train is not None and len(y) != len(x_train):
            raise ValueError(
                f"has {len(y)} rows but x_train has {len(x_train)}; give one target per "
                "training input"
            )
        return rectangular(y) if isinstance(y[0], list) else y

    @field_validator("x_test")
    @classmethod
    def _same_features(cls, x_test: list[list[float]], info: ValidationInfo) -> list[list[float]]:
        check_same_features(x_test, info, "x_train")
        return x_test

    def canonical(self) -> dict[str, Any]:
        return {
            "network": self.network.model_dump(),
            "x_train": np.asarray(self.x_train, dtype=np.float64),
            "y_train": np.asarray(self.y_train, dtype=np.float64),
            "x_test": np.asarray(self.x_test, dtype=np.float64),
            "kernel": self.kernel,
            "t": self.t,
            "learning_rate": self.learning_rate,
            "diag_reg": self.diag_reg,
            "diag_reg_relative": self.diag_reg_relative,
        }


class PredictionsResponse(BaseModel):
    """Means of the trained network's output; k = 1 when y_train was [n]."""

    t: list[float | Infinity]
    mean: list[list[list[float]]] = Field(description="[len(t)][n_test][k] on x_test")
    train_mean: list[list[list[float]]] = Field(description="[len(t)][n_train][k] on x_train")
    warnings: list[str] = Field(description="solver fallbacks, conditioning, limits reached")
    notes: list[str] = Field(description="what the result means (e.g. infinite-depth limits)")
    kernel: Literal["ntk", "nngp"]
    solver: str = Field(description="the factorisation actually used")
    learning_rate: float | None = Field(description="η used for finite times")
    condition_number: float | None = Field(
        description="κ of the solved training kernel; null beyond the float64 range"
    )
    log10_condition_number: float | None
    condition_number_is_lower_bound: bool = Field(
        description="true where float64 cannot resolve λ_min: the true κ is larger"
    )
