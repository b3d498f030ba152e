"""POST /v1/sweeps: trainability and generalization over a (σ_w², depth) grid (MATH.md §4–5)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, Field, ValidationInfo, field_validator

from api.schemas.common import (
    MAX_COORDINATE,
    Activation,
    Coordinate,
    FiniteDepth,
    Infinity,
    Matrix,
    NonNegativeVariance,
    SigmaW2Range,
    rectangular,
    request_config,
)
from api.schemas.kernels import check_same_features
from api.schemas.predictions import Time

Label = Annotated[int, Field(strict=True, ge=-MAX_COORDINATE, le=MAX_COORDINATE)]
Targets = (
    Annotated[
        list[Label],
        Field(min_length=1, description="[n] integers: class labels (one-hot targets, accuracy)"),
    ]
    | Annotated[
        list[Coordinate],
        Field(min_length=1, description="[n] numbers: one regression output"),
    ]
    | Annotated[
        list[Annotated[list[Coordinate], Field(min_length=1)]],
        Field(
            min_length=1,
            description="[n][k]: k regression outputs, or class labels if every row is one-hot",
        ),
    ]
)

_BLOBS = {
    "x_train": [[1.0, 0.2], [0.9, -0.1], [-1.0, 0.1], [-0.8, -0.3], [0.1, 1.0], [0.0, -1.0]],
    "y_train": [0, 0, 1, 1, 0, 1],
    "x_test": [[0.7, 0.7], [-0.7, 0.7], [-0.6, -0.8]],
    "y_test": [0, 1, 1],
}


class SweepsRequest(BaseModel):
    """One activation and σ_b²; a σ_w² axis and depths; the caller's data; training times."""

    model_config = request_config(
        {
            "activation": "erf",
            "sigma_b2": 0.05,
            "sigma_w2": {"start": 0.5, "stop": 4.0, "num": 8},
            "depths": [1, 2, 5, 10, 20, 50, 100],
            **_BLOBS,
            "t": [10.0, 1000.0, "inf"],
        },
        {
            "activation": "tanh",
            "sigma_b2": 0.1,
            "sigma_w2": {"start": 1.0, "stop": 3.0, "num": 3},
            "depths": [4, 16],
            "x_train": [[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]],
            "y_train": [[0.5], [-0.2], [0.1]],
            "x_test": [[0.6, 0.8]],
            "y_test": [[0.3]],
        },
    )

    activation: Activation
    sigma_b2: NonNegativeVariance = Field(description="bias variance σ_b² of every layer")
    sigma_w2: SigmaW2Range = Field(description="the σ_w² axis (rows of every grid)")
    depths: list[FiniteDepth] = Field(
        min_length=1,
        max_length=1000,
        description="depths (numbers of affine layers), returned sorted and without repeats",
    )
    x_train: Matrix
    y_train: Targets = Field(
        description="integers [n] or one-hot rows [n][k]: class labels (targets are the "
        "mean-centred one-hot vectors, accuracies reported); other numbers: regression"
    )
    x_test: Matrix
    y_test: Targets = Field(description="like y_train, one row per row of x_test")
    t: list[Time] = Field(
        default=["inf"],
        min_length=1,
        max_length=100,
        description='training times (numbers ≥ 0 or "inf") in units of 1/η, η = 2/λ_max',
    )

    @field_validator("depths")
    @classmethod
    def _sorted(cls, depths: list[int]) -> list[int]:
        return sorted(set(depths))

    @field_validator("y_train")
    @classmethod
    def _train_rows(cls, y: list[Any], info: ValidationInfo) -> list[Any]:
        return _check_targets(y, info, "x_train")

    @field_validator("x_test")
    @classmethod
    def _same_features(cls, x_test: list[list[float]], info: ValidationInfo) -> list[list[float]]:
        check_same_features(x_test, info, "x_train")
        return x_test

    @field_validator("y_test")
    @classmethod
    def _test_rows(cls, y: list[Any], info: ValidationInfo) -> list[Any]:
        return _check_targets(y, info, "x_test")

    def canonical(self) -> dict[str, Any]:
        """Labels stay integers (int64 arrays): that is what marks them as class labels."""
        return {
            "activation": self.activation.root,
            "sigma_b2": self.sigma_b2,
            "sigma_w2": self.sigma_w2.model_dump(),
            "depths": list(self.depths),
            "x_train": np.asarray(self.x_train, dtype=np.float64),
            "y_train": _array(self.y_train),
            "x_test": np.asarray(self.x_test, dtype=np.float64),
            "y_test": _array(self.y_test),
            "t": self.t,
        }


def _check_targets(y: list[Any], info: ValidationInfo, x_name: str) -> list[Any]:
    x = info.data.get(x_name)
    if x is not None and len(y) != len(x):
        raise ValueError(f"has {len(y)} rows but {x_name} has {len(x)}; give one per row")
    return rectangular(y) if isinstance(y[0], list) else y


def _array(y: list[Any]) -> np.ndarray:
    integers = all(isinstance(v, int) and not isinstance(v, bool) for v in y)
    return np.asarray(y, dtype=np.int64 if integers else np.float64)


Grid = list[list[list[float]]]


class SweepsResponse(BaseModel):
    """Grids [len(t)][num_w2][len(depths)]; per-σ_w² lists; null where undefined."""

    activation: dict[str, Any] = Field(description="the activation, with its parameters")
    sigma_b2: float
    sigma_w2: list[float] = Field(description="the σ_w² axis")
    depths: list[int] = Field(description="the depths, sorted")
    t: list[float | Infinity]
    classes: int | None = Field(description="number of classes; null for regression targets")
    train_loss: Grid = Field(description="mean over points and outputs of (f_t(x) − y)²")
    test_loss: Grid
    train_accuracy: Grid | None = Field(description="argmax accuracy; null for regression")
    test_accuracy: list[list[list[float | None]]] | None = Field(
        description="null inside where test_resolved is false"
    )
    condition_number: list[list[float]] = Field(
        description="κ(Θ(X,X)) [num_w2][len(depths)]; a lower bound where flagged"
    )
    log10_condition_number: list[list[float | None]] = Field(
        description="exact log10 κ even beyond the float64 range; null where κ = ∞"
    )
    condition_number_is_lower_bound: list[list[bool]] = Field(
        description="true where float64 cannot resolve λ_min(Θ): the true κ is larger"
    )
    test_resolved: list[list[bool]] = Field(
        description="[num_w2][len(depths)]: false where the test predictions are below float64 "
        "resolution (deep chaotic: collapsed to the mean; the test loss stays valid)"
    )
    chi_1: list[float | None]
    chi_c_star: list[float | None]
    xi_1: list[float | None] = Field(description="ξ₁ = −1/ln χ₁ (ordered σ_w² only)")
    xi_star: list[float | None] = Field(description="ξ* = −1/(ln χ_c* − ln χ₁) (chaotic σ_w² only)")
    phase: list[Literal["ordered", "chaotic", "critical"] | None]
    warnings: list[str]
