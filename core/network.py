"""The network description shared by every computation (MATH.md §1).

A depth-L network has L affine layers in the NTK parameterization; ``depth=None`` stands
for the infinite-depth limit (API ``"depth": "inf"``). The first layer's variances default
to the hidden layers' ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.errors import InvalidInputError

if TYPE_CHECKING:
    from core.activations import Activation


@dataclass(frozen=True)
class Network:
    """A deep fully-connected network: activation, weight/bias variances and depth."""

    activation: Activation
    sigma_w2: float
    sigma_b2: float
    depth: int | None
    input_sigma_w2: float | None = None
    input_sigma_b2: float | None = None

    def __post_init__(self) -> None:
        _check_positive("sigma_w2", self.sigma_w2)
        _check_non_negative("sigma_b2", self.sigma_b2)
        if self.input_sigma_w2 is not None:
            _check_positive("input_sigma_w2", self.input_sigma_w2)
        if self.input_sigma_b2 is not None:
            _check_non_negative("input_sigma_b2", self.input_sigma_b2)
        if self.depth is not None and (isinstance(self.depth, bool) or self.depth < 1):
            raise InvalidInputError("depth must be an integer >= 1 or infinite", field="depth")

    @property
    def first_sigma_w2(self) -> float:
        """σ_w² of the first (input) layer."""
        return self.sigma_w2 if self.input_sigma_w2 is None else self.input_sigma_w2

    @property
    def first_sigma_b2(self) -> float:
        """σ_b² of the first (input) layer."""
        return self.sigma_b2 if self.input_sigma_b2 is None else self.input_sigma_b2

    @property
    def is_infinite(self) -> bool:
        return self.depth is None


def _check_positive(name: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise InvalidInputError(f"{name} must be a finite number > 0, got {value!r}", field=name)


def _check_non_negative(name: str, value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise InvalidInputError(f"{name} must be a finite number >= 0, got {value!r}", field=name)
