"""The correlation map at the length map's fixed point, for plotting (MATH.md §3).

f(c) = (σ_w² E[φ(u)φ(v)] + σ_b²)/q*, (u, v) ~ N(0, q*[[1, c], [c, 1]]), so f(1) = 1.
Its slope follows from Price's theorem, ∂E[φ(u)φ(v)]/∂q₁₂ = E[φ'(u)φ'(v)] with q₁₂ = q* c:
f'(c) = σ_w² q* E[φ'(u)φ'(v)] / q* = σ_w² E[φ'(u)φ'(v)]; f'(1) = χ₁ and f'(c*) = χ_c*.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from core.errors import InvalidInputError, NotDefinedError
from core.fixed_points import FixedPoints, FloatArray, fixed_points

if TYPE_CHECKING:
    from core.activations import Activation


@dataclass(frozen=True)
class CorrelationMap:
    """f(c) and f'(c) on the caller's c values, with the fixed points they revolve around."""

    sigma_w2: float
    sigma_b2: float
    q_star: float
    c_star: float | None
    chi_1: float
    phase: str | None
    c: FloatArray
    f: FloatArray
    f_prime: FloatArray

    def to_dict(self) -> dict[str, Any]:
        return {
            "sigma_w2": self.sigma_w2,
            "sigma_b2": self.sigma_b2,
            "q_star": self.q_star,
            "c_star": self.c_star,
            "chi_1": self.chi_1,
            "phase": self.phase,
            "c": self.c,
            "f": self.f,
            "f_prime": self.f_prime,
        }


def correlation_map(
    activation: Activation,
    sigma_w2: float,
    sigma_b2: float,
    c: FloatArray,
    points: FixedPoints | None = None,
) -> CorrelationMap:
    """f(c) and f'(c) at q* for every c in [−1, 1]; ``points``: the fixed points of this
    (activation, σ_w², σ_b²) if already computed.

    Raises NotDefinedError where q* does not exist or is 0 (f is then 0/0).
    """
    if points is None:
        points = fixed_points(activation, sigma_w2, sigma_b2)
    cosines = _cosines(c)
    q_star = points.q_star
    if q_star is None or q_star == 0.0 or points.chi_1 is None:
        reason = points.notes[0] if points.notes else "q* is not available"
        raise NotDefinedError(f"the correlation map needs q* > 0: {reason}")
    w2, b2 = float(sigma_w2), float(sigma_b2)
    q12 = q_star * cosines
    correlation = np.asarray(activation.correlation(q_star, q_star, q12), dtype=np.float64)
    derivative = np.asarray(
        activation.derivative_correlation(q_star, q_star, q12), dtype=np.float64
    )
    return CorrelationMap(
        sigma_w2=w2,
        sigma_b2=b2,
        q_star=q_star,
        c_star=points.c_star,
        chi_1=points.chi_1,
        phase=points.phase,
        c=cosines,
        f=(w2 * correlation + b2) / q_star,
        f_prime=w2 * derivative,
    )


def _cosines(c: FloatArray) -> FloatArray:
    try:
        cosines = np.asarray(c, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInputError("c must be an array of numbers", field="c") from None
    if cosines.ndim != 1 or cosines.size == 0:
        raise InvalidInputError(f"c must be a non-empty 1-D array, got {cosines.shape}", field="c")
    if not np.all(np.isfinite(cosines) & (np.abs(cosines) <= 1.0)):
        raise InvalidInputError("every c must be a finite number in [-1, 1]", field="c")
    return cosines
