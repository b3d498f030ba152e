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
  s² − r² = s² δ(2 − δ) (no cancellation); the norm-mismatch part √(A1A2) − arcsin s,
  O((q1 − q2)²), is 0 at q1 = q2, a series in h = ln(ρ1/ρ2) for |h| < 1e-4 (relative
  error ~h²) and the difference of closed forms above (absolute error ~1e-16·V). The
  derivative deficit uses D − √((1+4q1)(1+4q2)) =
  4(q1 − q2)²/(D₀ + √(…)) + 4q1q2 δ(2 − δ), exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
from numpy.typing import ArrayLike

from core.activations.base import (
    Activation,
    Array,
    angle_from_deficits,
    as_array,
    clamped_sqrt,
    clipped_cosine_deficits,
    sin_minus_theta_cos,
)


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

    def small_deficit_slopes(self, q1: ArrayLike, q2: ArrayLike) -> tuple[Array, Array, float]:
        root = clamped_sqrt(as_array(q1) * as_array(q2))
        return root, np.zeros_like(root), 1.0


@numba.vectorize(["float64(float64, float64, float64, float64)"], target="parallel", cache=True)
def _abrelu_deficit(root: float, delta: float, square_sum: float, jump: float) -> float:
    """√(q1q2)/2π · [(a² + b²) π δ − (a − b)² S(θ)], δ clipped to [0, 2] (fused, one pass)."""
    d = min(max(delta, 0.0), 2.0)
    theta = angle_from_deficits(d, 2.0 - d)
    gap = square_sum * math.pi * d - jump * sin_minus_theta_cos(theta)
    return root / (2.0 * math.pi) * max(gap, 0.0)


@numba.vectorize(["float64(float64, float64)"], cache=True)
def _abrelu_derivative_deficit(delta: float, jump: float) -> float:
    """(a − b)² θ / 2π, δ clipped to [0, 2]."""
    d = min(max(delta, 0.0), 2.0)
    return jump * angle_from_deficits(d, 2.0 - d) / (2.0 * math.pi)


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
        root = clamped_sqrt(as_array(q1) * as_array(q2))
        return _abrelu_deficit(root, as_array(delta), self._square_sum, (self.a - self.b) ** 2)

    def derivative_correlation_deficit(
        self, q1: ArrayLike, q2: ArrayLike, delta: ArrayLike
    ) -> Array:
        q1, q2, d = np.broadcast_arrays(as_array(q1), as_array(q2), as_array(delta))
        return _abrelu_derivative_deficit(d, (self.a - self.b) ** 2)

    def small_deficit_slopes(self, q1: ArrayLike, q2: ArrayLike) -> tuple[Array, Array, float]:
        root = clamped_sqrt(as_array(q1) * as_array(q2))
        jump = np.full_like(root, (self.a - self.b) ** 2 * np.sqrt(2.0) / (2 * np.pi))
        return 0.5 * self._square_sum * root, jump, 0.5


#: below this |ln ρ1 − ln ρ2| the erf norm mismatch uses its series (error ~h⁴ relative
#: to it) instead of a difference of closed forms (error ~1e-16·V absolute)
MISMATCH_SERIES_BELOW = 1e-4


@numba.vectorize(["float64(float64, float64, float64)"], target="parallel", cache=True)
def _erf_deficit(q1: float, q2: float, delta: float) -> float:
    """√(V1V2) − E[erf(u) erf(v)] (module doc): angular part + norm-mismatch part."""
    d = min(max(delta, 0.0), 2.0)
    p1 = 1.0 + 2.0 * q1
    p2 = 1.0 + 2.0 * q2
    s = 2.0 * math.sqrt(q1 * q2 / (p1 * p2))
    r = s * (1.0 - d)
    one_minus_s2 = (1.0 + 2.0 * q1 + 2.0 * q2) / (p1 * p2)
    s2_minus_r2 = s * s * d * (2.0 - d)
    root_s = math.sqrt(one_minus_s2)
    root_r = math.sqrt(one_minus_s2 + s2_minus_r2)
    # sine of arcsin(s) − arcsin(r): the ratio form for r ≥ 0, a sum of positives for r < 0
    if r >= 0.0:
        denominator = s * root_r + r * root_s
        sine = s2_minus_r2 / denominator if denominator > 0.0 else 0.0
    else:
        sine = s * root_r - r * root_s
    angular = math.atan2(sine, root_s * root_r + s * r)
    mismatch = 0.0
    if q1 != q2:
        # h = ln ρ1 − ln ρ2 with ρ = 2q/(1 + 2q); s = √(ρ1ρ2)
        h = math.inf
        if s > 0.0 and abs(q1 - q2) < 1e-3 * q2:
            h = math.log1p((q1 - q2) / q2) - math.log1p(2.0 * (q1 - q2) / p2)
        if abs(h) < MISMATCH_SERIES_BELOW:
            # √(A1A2) − arcsin s = arcsin(s)·(exp(ΔG) − 1), ΔG = G''(ln s) h²/8 + O(h⁴),
            # G(x) = ln arcsin(eˣ): G'' = ρ/(Aw) − ρ²/(Aw)² + ρ³/(Aw³), A = arcsin ρ, w = √(1−ρ²)
            a = math.asin(s)
            aw = a * root_s
            g2 = s / aw - (s / aw) ** 2 + s**3 / (aw * root_s * root_s)
            mismatch = a * math.expm1(g2 * h * h / 8.0)
        else:
            a1 = math.asin(2.0 * q1 / p1)
            a2 = math.asin(2.0 * q2 / p2)
            mismatch = max(math.sqrt(a1 * a2) - math.asin(s), 0.0)
    return (2.0 / math.pi) * (angular + mismatch)


@numba.vectorize(["float64(float64, float64, float64)"], target="parallel", cache=True)
def _erf_derivative_deficit(q1: float, q2: float, delta: float) -> float:
    """√(W1W2) − E[erf'(u) erf'(v)] = (4/π)(D − R)/(√R √D (√D + √R)), R = √((1+4q1)(1+4q2))."""
    d = min(max(delta, 0.0), 2.0)
    d0 = 1.0 + 2.0 * q1 + 2.0 * q2
    radicand = math.sqrt((1.0 + 4.0 * q1) * (1.0 + 4.0 * q2))
    x = 4.0 * q1 * q2 * d * (2.0 - d)
    det = d0 + x
    gap = 4.0 * (q1 - q2) ** 2 / (d0 + radicand) + x
    root_d, root_r = math.sqrt(det), math.sqrt(radicand)
    return (4.0 / math.pi) * gap / (root_r * root_d * (root_d + root_r))


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
        return _erf_deficit(as_array(q1), as_array(q2), as_array(delta))

    def derivative_correlation_deficit(
        self, q1: ArrayLike, q2: ArrayLike, delta: ArrayLike
    ) -> Array:
        return _erf_derivative_deficit(as_array(q1), as_array(q2), as_array(delta))

    def small_deficit_slopes(self, q1: ArrayLike, q2: ArrayLike) -> tuple[Array, Array, float]:
        q1, q2 = np.broadcast_arrays(as_array(q1), as_array(q2))
        d0 = 1 + 2 * q1 + 2 * q2
        root = np.sqrt(q1 * q2)
        return (4 / np.pi) * root / np.sqrt(d0), 16 * q1 * q2 / (np.pi * d0**1.5), 1.0
