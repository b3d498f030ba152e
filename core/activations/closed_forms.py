"""Activations whose Gaussian expectations are analytic (MATH.md §2).

Notation as in :mod:`core.activations.base`; θ = arccos c, δ = 1 − c, S(θ) = sin θ − θ cos θ.

* Piecewise linear ("ABRelu", as in neural-tangents): φ(x) = b·x for x ≥ 0, a·x for x < 0.
  With J₁(θ) = sin θ + (π − θ) cos θ and the orthant probabilities
  P(u>0, v>0) = (π − θ)/2π, P(u>0, v<0) = θ/2π:

      E[φ(u)φ(v)]   = √(q1q2)/2π · [(a² + b²) J₁(θ) − 2ab S(θ)]
      V(q)          = (a² + b²) q / 2 = q dV/dq,   W(q) = (a² + b²)/2
      E[φ'(u)φ'(v)] = [(a² + b²)(π − θ) + 2ab θ] / 2π
      deficits:  √(V1V2) − E[φφ]   = √(q1q2)/2π · [(a² + b²) π δ − (a − b)² S(θ)]
                 √(W1W2) − E[φ'φ'] = (a − b)² θ / 2π

  relu is (a, b) = (0, 1), leaky_relu(α) is (α, 1), abs is (−1, 1).
* identity: E[uv] = q12, E[φ'φ'] = 1; deficits √(q1q2) δ and 0.
* erf: with P_i = 1 + 2q_i, s = 2√(q1q2)/√(P1P2) and r = s c,

      E[φ(u)φ(v)]   = (2/π) arcsin r,          V(q) = (2/π) arcsin(2q/(1 + 2q))
      E[φ'(u)φ'(v)] = (4/π) / √D,  D = P1P2 − 4q12² = 1 + 2q1 + 2q2 + 4q1q2 δ(2 − δ)
      W(q) = (4/π)/√(1 + 4q),      dV/dq = 4 / (π (1 + 2q) √(1 + 4q))

  The correlation deficit is (2/π)[(√(A1A2) − arcsin s) + (arcsin s − arcsin r)] with
  A_i = arcsin(2q_i/P_i): the angular part is an arcsine difference formed from
  s² − r² = s² δ(2 − δ) (no cancellation); the norm-mismatch part, O((q1 − q2)²), by
  :func:`norm_mismatch` below. The derivative deficit uses D − √((1+4q1)(1+4q2)) =
  4(q1 − q2)²/(D₀ + √(…)) + 4q1q2 δ(2 − δ), exact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import erf

from core.activations.base import (
    Activation,
    Array,
    angle_from_deficits,
    as_array,
    clamped_sqrt,
    clipped_cosine_deficits,
    sin_minus_theta_cos,
)
from core.activations.quadrature import gauss_hermite

#: Below this relative norm mismatch |q1 − q2|/(q1 + q2) the mismatch part of a smooth
#: activation's deficit is integrated from pointwise differences (error ~ ε·|q1 − q2|)
#: instead of subtracting two closed forms (error ~ ε, which would swamp an O(mismatch²)
#: quantity).
MISMATCH_QUADRATURE_BELOW = 1e-3
#: Gauss–Hermite degree of that 1-D integral (smooth integrand: exact to ~1e-15 for q ≲ 50).
MISMATCH_NODES = 160


def norm_mismatch(phi: Callable[[Array], Array], q1: Array, q2: Array) -> Array:
    """√(V1V2) − E[φ(√q1 z) φ(√q2 z)] = ½√(V1V2)·E[(φ(√q1 z)/√V1 − φ(√q2 z)/√V2)²].

    The Cauchy–Schwarz gap between two pre-activations of different variance and
    correlation 1; ≥ 0 and O((q1 − q2)²). Computed from the pointwise differences so the
    result keeps its relative accuracy as q1 → q2 (exactly 0 at q1 = q2).
    """
    x, w = gauss_hermite(MISMATCH_NODES)
    s1 = clamped_sqrt(q1)[..., None]
    s2 = clamped_sqrt(q2)[..., None]
    f1 = phi(s1 * x)
    f2 = phi(s2 * x)
    v1 = f1 * f1 @ w
    v2 = f2 * f2 @ w
    n1 = np.sqrt(np.where(v1 > 0, v1, 1.0))
    n2 = np.sqrt(np.where(v2 > 0, v2, 1.0))
    diff = f1 / n1[..., None] - f2 / n2[..., None]
    return 0.5 * n1 * n2 * (diff * diff @ w)


@dataclass(frozen=True, eq=False)
class Identity(Activation):
    """φ(x) = x (the deep linear network)."""

    def variance(self, q: ArrayLike) -> Array:
        return as_array(q).copy()

    def variance_slope(self, q: ArrayLike) -> Array:
        return np.ones_like(as_array(q))

    def derivative_variance(self, q: ArrayLike) -> Array:
        return np.ones_like(as_array(q))

    def correlation(self, q1: ArrayLike, q2: ArrayLike, q12: ArrayLike) -> Array:
        q1, q2, q12 = np.broadcast_arrays(as_array(q1), as_array(q2), as_array(q12))
        return q12.copy()

    def derivative_correlation(self, q1: ArrayLike, q2: ArrayLike, q12: ArrayLike) -> Array:
        q1, q2, q12 = np.broadcast_arrays(as_array(q1), as_array(q2), as_array(q12))
        return np.ones_like(q12)

    def correlation_deficit(self, q1: ArrayLike, q2: ArrayLike, delta: ArrayLike) -> Array:
        return clamped_sqrt(as_array(q1) * as_array(q2)) * np.clip(as_array(delta), 0.0, 2.0)

    def derivative_correlation_deficit(
        self, q1: ArrayLike, q2: ArrayLike, delta: ArrayLike
    ) -> Array:
        q1, q2, delta = np.broadcast_arrays(as_array(q1), as_array(q2), as_array(delta))
        return np.zeros_like(delta)


@dataclass(frozen=True, eq=False)
class ABRelu(Activation):
    """φ(x) = b·x for x ≥ 0 and a·x for x < 0 (relu, leaky relu, abs)."""

    a: float = 0.0
    b: float = 1.0

    @property
    def _square_sum(self) -> float:
        return self.a * self.a + self.b * self.b

    def variance(self, q: ArrayLike) -> Array:
        return 0.5 * self._square_sum * as_array(q)

    def variance_slope(self, q: ArrayLike) -> Array:
        return np.full_like(as_array(q), 0.5 * self._square_sum)

    def derivative_variance(self, q: ArrayLike) -> Array:
        return np.full_like(as_array(q), 0.5 * self._square_sum)

    def correlation(self, q1: ArrayLike, q2: ArrayLike, q12: ArrayLike) -> Array:
        q1, q2 = as_array(q1), as_array(q2)
        c, minus, plus = clipped_cosine_deficits(q1, q2, q12)
        theta = angle_from_deficits(minus, plus)
        s = sin_minus_theta_cos(theta)
        j1 = np.sin(theta) + (np.pi - theta) * c
        root = clamped_sqrt(q1 * q2)
        return root / (2 * np.pi) * (self._square_sum * j1 - 2 * self.a * self.b * s)

    def derivative_correlation(self, q1: ArrayLike, q2: ArrayLike, q12: ArrayLike) -> Array:
        _, minus, plus = clipped_cosine_deficits(q1, q2, q12)
        theta = angle_from_deficits(minus, plus)
        return (self._square_sum * (np.pi - theta) + 2 * self.a * self.b * theta) / (2 * np.pi)

    def correlation_deficit(self, q1: ArrayLike, q2: ArrayLike, delta: ArrayLike) -> Array:
        d = np.clip(as_array(delta), 0.0, 2.0)
        theta = angle_from_deficits(d, 2.0 - d)
        gap = self._square_sum * np.pi * d - (self.a - self.b) ** 2 * sin_minus_theta_cos(theta)
        root = clamped_sqrt(as_array(q1) * as_array(q2))
        return root / (2 * np.pi) * np.maximum(gap, 0.0)

    def derivative_correlation_deficit(
        self, q1: ArrayLike, q2: ArrayLike, delta: ArrayLike
    ) -> Array:
        q1, q2, delta = np.broadcast_arrays(as_array(q1), as_array(q2), as_array(delta))
        d = np.clip(delta, 0.0, 2.0)
        theta = angle_from_deficits(d, 2.0 - d)
        return (self.a - self.b) ** 2 * theta / (2 * np.pi)


@dataclass(frozen=True, eq=False)
class Erf(Activation):
    """φ(x) = erf(x)."""

    def variance(self, q: ArrayLike) -> Array:
        q = as_array(q)
        return (2 / np.pi) * np.arcsin(2 * q / (1 + 2 * q))

    def variance_slope(self, q: ArrayLike) -> Array:
        q = as_array(q)
        return 4 / (np.pi * (1 + 2 * q) * np.sqrt(1 + 4 * q))

    def derivative_variance(self, q: ArrayLike) -> Array:
        return (4 / np.pi) / np.sqrt(1 + 4 * as_array(q))

    def correlation(self, q1: ArrayLike, q2: ArrayLike, q12: ArrayLike) -> Array:
        q1, q2, q12 = np.broadcast_arrays(as_array(q1), as_array(q2), as_array(q12))
        r = np.clip(2 * q12 / np.sqrt((1 + 2 * q1) * (1 + 2 * q2)), -1.0, 1.0)
        return (2 / np.pi) * np.arcsin(r)

    def derivative_correlation(self, q1: ArrayLike, q2: ArrayLike, q12: ArrayLike) -> Array:
        q1, q2 = as_array(q1), as_array(q2)
        _, minus, plus = clipped_cosine_deficits(q1, q2, q12)
        det = 1 + 2 * q1 + 2 * q2 + 4 * q1 * q2 * minus * plus
        return (4 / np.pi) / np.sqrt(det)

    def correlation_deficit(self, q1: ArrayLike, q2: ArrayLike, delta: ArrayLike) -> Array:
        q1, q2, delta = np.broadcast_arrays(as_array(q1), as_array(q2), as_array(delta))
        d = np.clip(delta, 0.0, 2.0)
        p1, p2 = 1 + 2 * q1, 1 + 2 * q2
        s = 2 * np.sqrt(q1 * q2 / (p1 * p2))
        r = s * (1 - d)
        one_minus_s2 = (1 + 2 * q1 + 2 * q2) / (p1 * p2)
        s2_minus_r2 = s * s * d * (2 - d)
        root_s = np.sqrt(one_minus_s2)
        root_r = np.sqrt(one_minus_s2 + s2_minus_r2)
        # sin and cos of arcsin(s) − arcsin(r), cancellation-free for r ≥ 0 and r < 0
        denominator = s * root_r + r * root_s
        safe = np.where(denominator > 0, denominator, 1.0)
        sine = np.where(r >= 0, s2_minus_r2 / safe, s * root_r - r * root_s)
        sine = np.where((r >= 0) & (denominator <= 0), 0.0, sine)
        cosine = root_s * root_r + s * r
        angular = np.arctan2(sine, cosine)
        mismatch = self._norm_mismatch(q1, q2)
        return (2 / np.pi) * angular + mismatch

    def _norm_mismatch(self, q1: Array, q2: Array) -> Array:
        """√(V1V2) − E[erf(√q1 z) erf(√q2 z)] (≥ 0, zero at q1 = q2)."""
        a1 = np.arcsin(2 * q1 / (1 + 2 * q1))
        a2 = np.arcsin(2 * q2 / (1 + 2 * q2))
        mid = np.arcsin(2 * np.sqrt(q1 * q2 / ((1 + 2 * q1) * (1 + 2 * q2))))
        direct = np.maximum((2 / np.pi) * (np.sqrt(a1 * a2) - mid), 0.0)
        total = q1 + q2
        relative = np.abs(q1 - q2) / np.where(total > 0, total, 1.0)
        close = (relative < MISMATCH_QUADRATURE_BELOW) & (q1 != q2)
        out = np.where(q1 == q2, 0.0, direct)
        if np.any(close):
            out[close] = norm_mismatch(erf, q1[close], q2[close])
        return out

    def derivative_correlation_deficit(
        self, q1: ArrayLike, q2: ArrayLike, delta: ArrayLike
    ) -> Array:
        q1, q2, delta = np.broadcast_arrays(as_array(q1), as_array(q2), as_array(delta))
        d = np.clip(delta, 0.0, 2.0)
        d0 = 1 + 2 * q1 + 2 * q2
        radicand = np.sqrt((1 + 4 * q1) * (1 + 4 * q2))
        det = d0 + 4 * q1 * q2 * d * (2 - d)
        gap = 4 * (q1 - q2) ** 2 / (d0 + radicand) + 4 * q1 * q2 * d * (2 - d)
        return (
            (4 / np.pi)
            * gap
            / (np.sqrt(radicand) * np.sqrt(det) * (np.sqrt(det) + np.sqrt(radicand)))
        )
