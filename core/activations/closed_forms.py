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
  s² − r² = s² δ(2 − δ) (no cancellation). The norm-mismatch part √(A1A2) − arcsin s,
  O((q1 − q2)²), is 0 at q1 = q2 and otherwise arcsin(s)·expm1(X) with ρ_i = 2q_i/P_i,
  G(x) = ln arcsin(eˣ), x_i = ln ρ_i = x̄ ± k (x̄ = ln s) and X = ½(G(x1) + G(x2)) − G(x̄)
  = ½∫₀ᵏ (k − t)(G''(x̄ + t) + G''(x̄ − t)) dt, where G''(ln ρ) = ρ(A − ρw)/(A²w³) (A = arcsin ρ,
  w = √(1 − ρ²), A − ρw = (2A − sin 2A)/2 by its series for small A). X is that integral by
  a Gauss rule of 1–5 nodes while k ≤ 0.3(1 − s) (the singularity of G at x = 0 is at
  distance |x̄| ≥ 1 − s), else the difference of L(ρ) = G(ln ρ) − ln ρ = ln(A/ρ), each a
  log1p of (A − sin A)/ρ: 2e-15 relative for q in [1e-3, 1e3] (tests/core/test_erf_mismatch.py),
  ~1e-16/√(1 − s) relative for q ≫ 1 and q1/q2 far from 1. The derivative deficit uses
  D − √((1+4q1)(1+4q2)) = 4(q1 − q2)²/(D₀ + √(…)) + 4q1q2 δ(2 − δ), exact.
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
from core.arctangent import upper_angle


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


#: y − sin y = y³ Σ_{k≥1} (−1)^{k+1} y^{2k−2}/(2k+1)!, k = 1 … 9 (used for y < 1)
_X_MINUS_SIN = np.array([(-1.0) ** (k + 1) / math.factorial(2 * k + 1) for k in range(1, 10)])
#: Gauss rules for ∫₀¹ (1 − u) E(u) du with E even (E(u) = P(u²): Gauss in v = u² for the
#: weight (1 − √v)/(2√v), n nodes exact to degree 2n − 1 in v): node counts, the largest
#: k/(1 − s) each is used for (relative error ≤ 1e-15 measured against mpmath), and nodes u
#: and weights, one row per rule
_RULE_SIZES = (1, 2, 3, 4, 5)
_RULE_RATIOS = np.array([1e-4, 1e-2, 0.08, 0.2, 0.3])


def _rules() -> tuple[Array, Array]:
    """The rules' nodes and weights from the three-term recurrence of the weight, found by
    the Stieltjes procedure on a 64-point Gauss–Legendre discretisation (exact for it)."""
    x, w = np.polynomial.legendre.leggauss(64)
    u = 0.5 * (x + 1.0)
    v, measure = u * u, 0.5 * w * (1.0 - u)
    size = max(_RULE_SIZES)
    alphas, betas = np.zeros(size), np.zeros(size)
    previous, current, norm = np.zeros_like(v), np.ones_like(v), measure.sum()
    for j in range(size):
        alphas[j] = (measure * v * current * current).sum() / norm
        previous, current = current, (v - alphas[j]) * current - betas[j - 1] * previous
        betas[j] = (measure * current * current).sum() / norm
        norm *= betas[j]
    nodes, weights = np.zeros((len(_RULE_SIZES), size)), np.zeros((len(_RULE_SIZES), size))
    for row, n in enumerate(_RULE_SIZES):
        off = np.sqrt(betas[: n - 1])
        values, vectors = np.linalg.eigh(np.diag(alphas[:n]) + np.diag(off, 1) + np.diag(off, -1))
        nodes[row, :n] = np.sqrt(values)
        weights[row, :n] = 0.5 * vectors[0] ** 2
    return nodes, weights


_RULE_NODES, _RULE_WEIGHTS = _rules()


@numba.njit(cache=True)
def x_minus_sin(y: float) -> float:
    """y − sin y for y ≥ 0, by its series below 1 (no cancellation)."""
    if y >= 1.0:
        return y - math.sin(y)
    y2 = y * y
    acc = 0.0
    for k in range(_X_MINUS_SIN.size - 1, -1, -1):
        acc = acc * y2 + _X_MINUS_SIN[k]
    return acc * y2 * y


@numba.njit(cache=True)
def _log_arcsin_ratio(rho: float, w: float) -> float:
    """ln(arcsin ρ / ρ) with w = √(1 − ρ²): log1p((A − sin A)/ρ), A = arcsin ρ."""
    if rho == 0.0:
        return 0.0
    return math.log1p(x_minus_sin(math.atan2(rho, w)) / rho)


@numba.njit(cache=True)
def _log_arcsin_curvature(rho: float, gap: float) -> float:
    """G''(ln ρ) for G(x) = ln arcsin(eˣ), given ρ and gap = 1 − ρ > 0: ρ(A − ρw)/(A²w³) with
    A = arcsin ρ, w = √(1 − ρ²) and A − ρw = (2A − sin 2A)/2."""
    w = math.sqrt(gap * (1.0 + rho))
    a = math.atan(rho / w)
    if a == 0.0:
        return 0.0
    return rho * (0.5 * x_minus_sin(2.0 * a) / a) / (a * w * w * w)


@numba.njit(cache=True)
def _erf_norm_mismatch(q1: float, q2: float, s: float, root_s: float) -> float:
    """√(A1A2) − arcsin s for q1, q2 > 0 (module doc), s = √(ρ1ρ2), root_s = √(1 − s²)."""
    if max(q1, q2) < 3.0 * min(q1, q2):  # else the ratio below is > 0.33 > _RULE_RATIOS[-1]
        # ln ρ_i = x̄ ± k with x̄ = ln s, k = |ln(ρ1/ρ2)|/2, ρ1/ρ2 = 1 + (q1 − q2)/(q2 (1 + 2q1));
        # the rule is picked by k/(1 − s) ≥ k/min(|x̄|, 1) (G'' is singular at x = 0)
        k = 0.5 * abs(math.log1p((q1 - q2) / q2 / (1.0 + 2.0 * q1)))
        gap = root_s * root_s / (1.0 + s)  # 1 − s without cancellation
        ratio = k / gap
        if ratio <= _RULE_RATIOS[-1]:
            row = 0
            while ratio > _RULE_RATIOS[row]:
                row += 1
            acc = 0.0
            for i in range(_RULE_SIZES[row]):
                # the nodes ρ = s e^{±t} and 1 − ρ = (1 − s) − s (e^{±t} − 1): |s (e^{±t} − 1)|
                # < 0.4 (1 − s) for t ≤ 0.3 (1 − s), so no cancellation
                up = math.expm1(k * _RULE_NODES[row, i])
                down = -up / (1.0 + up)
                curvature = _log_arcsin_curvature(s + s * up, gap - s * up)
                curvature += _log_arcsin_curvature(s + s * down, gap - s * down)
                acc += _RULE_WEIGHTS[row, i] * curvature
            spread = 0.5 * k * k * acc
            return math.atan2(s, root_s) * math.expm1(max(spread, 0.0))
    p1, p2 = 1.0 + 2.0 * q1, 1.0 + 2.0 * q2
    w1 = math.sqrt(1.0 + 4.0 * q1) / p1
    w2 = math.sqrt(1.0 + 4.0 * q2) / p2
    spread = 0.5 * (
        _log_arcsin_ratio(2.0 * q1 / p1, w1) + _log_arcsin_ratio(2.0 * q2 / p2, w2)
    ) - _log_arcsin_ratio(s, root_s)
    return math.atan2(s, root_s) * math.expm1(max(spread, 0.0))


@numba.njit(cache=True, inline="always")
def erf_angle(s: float, one_minus_s2: float, d: float) -> float:
    """arcsin(s) − arcsin(r), r = s(1 − d), at cosine deficit d ∈ [0, 2] given s and 1 − s²
    (branch-free, so that core.lanes vectorizes it)."""
    r = s * (1.0 - d)
    s2_minus_r2 = s * s * d * (2.0 - d)
    root_s = math.sqrt(one_minus_s2)
    root_r = math.sqrt(one_minus_s2 + s2_minus_r2)
    # sine of arcsin(s) − arcsin(r): the ratio form for r ≥ 0, a sum of positives for r < 0
    denominator = s * root_r + r * root_s
    ratio = s2_minus_r2 / (denominator if denominator > 0.0 else 1.0)
    sine = (ratio if denominator > 0.0 else 0.0) if r >= 0.0 else s * root_r - r * root_s
    return upper_angle(sine, root_s * root_r + s * r)


@numba.njit(cache=True, inline="always")
def erf_deficit_from(q1: float, q2: float, s: float, one_minus_s2: float, d: float) -> float:
    """√(V1V2) − E[erf(u) erf(v)] at cosine deficit d ∈ [0, 2], given s = √(ρ1ρ2) and 1 − s²
    (callers precompute them: here from q, in core.entry_loop from its per-point table)."""
    angular = erf_angle(s, one_minus_s2, d)
    mismatch = 0.0
    if q1 != q2 and s > 0.0:
        mismatch = _erf_norm_mismatch(q1, q2, s, math.sqrt(one_minus_s2))
    return (2.0 / math.pi) * (angular + mismatch)


@numba.vectorize(["float64(float64, float64, float64)"], target="parallel", cache=True)
def _erf_deficit(q1: float, q2: float, delta: float) -> float:
    """√(V1V2) − E[erf(u) erf(v)] (module doc): angular part + norm-mismatch part."""
    d = min(max(delta, 0.0), 2.0)
    p1 = 1.0 + 2.0 * q1
    p2 = 1.0 + 2.0 * q2
    s = 2.0 * math.sqrt(q1 * q2 / (p1 * p2))
    return erf_deficit_from(q1, q2, s, (1.0 + 2.0 * q1 + 2.0 * q2) / (p1 * p2), d)


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
        # arcsin(2q/(1 + 2q)) as an arctangent: the arcsine near 1 would lose √q ulps
        return (2 / np.pi) * np.arctan2(2 * q, np.sqrt(1 + 4 * q))

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


# --- sin and cos ----------------------------------------------------------------------
#
# With m = (q1 + q2)/2, r = √(q1q2), q12 = r c (Gaussian moment generating function):
#
#     E[sin u sin v] = e^{−m} sinh q12,   V_sin(q) = e^{−q} sinh q = (1 − e^{−2q})/2
#     E[cos u cos v] = e^{−m} cosh q12,   V_cos(q) = e^{−q} cosh q = (1 + e^{−2q})/2
#
# sin' = cos and cos' = −sin, so each activation's derivative expectations are the other's
# product expectations. Every exponent is combined before exponentiating (r − m ≤ 0, q12 −
# m ≤ 0), so nothing overflows. The deficits split as angular + norm-mismatch parts:
#
#     sin:  e^{−m}(sinh r − sinh(r − rδ)) = −½ expm1(−rδ) e^{r−m} (1 + e^{−r(2−δ)})
#     cos:  e^{−m}(cosh r − cosh(r − rδ)) =  ½ expm1(−rδ) e^{r−m} expm1(−r(2 − δ))
#     mismatch = e^{−m} F(r) expm1(X),  X = ½(ln F(q1) + ln F(q2)) − ln F(r),  F = sinh, cosh
#
# X = O((q1 − q2)²) ≥ 0 is 0 at q1 = q2. With G(x) = ln F(eˣ), h = ln q1 − ln q2 and
# x̄ = ln r, X = ½(G(x̄ + h/2) + G(x̄ − h/2)) − G(x̄) = (h²/8) ∫₀¹ (1 − u)[G''(x̄ + uh/2) +
# G''(x̄ − uh/2)] du, a sum of positive terms: for |h| < MISMATCH_QUADRATURE_BELOW it is
# computed so, by 8-point Gauss–Legendre (G'' is analytic within π/2 of the real axis:
# error < 1e-17 relative). Otherwise X is a difference of reduced logarithms, ln(sinh q/q)
# or ln cosh q, or above q = 1 the exact part m − r = (√q1 − √q2)²/2 plus differenced
# e^{−2q} remainders (absolute error ~1e-16 · min(1, q²), X ≳ min(1, q²)/10 there).

#: above this X the mismatch is √(V1V2) − e^{−m}F(r) directly (ratio ≥ e^½: no cancellation,
#: and expm1(X) could overflow)
MISMATCH_DIRECT_ABOVE = 0.5

#: below this |ln q1 − ln q2| the mismatch exponent X is the quadrature of G'' (above)
MISMATCH_QUADRATURE_BELOW = 1.0

_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(8)
#: Gauss–Legendre on [0, 1] for ∫₀¹ (1 − u) f(u) du: nodes u_k, weights w_k (1 − u_k)
_MISMATCH_NODES = 0.5 * (_GL_NODES + 1.0)
_MISMATCH_WEIGHTS = 0.5 * _GL_WEIGHTS * (1.0 - _MISMATCH_NODES)

#: Horner coefficients of (sinh z − z)/z³ = Σ_{k≥1} z^{2k−2}/(2k+1)!  (k = 1 … 10)
_SINH_EXCESS_SERIES = np.array([1.0 / math.factorial(2 * k + 1) for k in range(1, 11)])


@numba.njit(cache=True)
def _sinh_excess(z: float) -> float:
    """sinh z − z for 0 ≤ z ≤ 1 by its series (no cancellation; 1e-19 relative at z = 1)."""
    z2 = z * z
    acc = 0.0
    for k in range(_SINH_EXCESS_SERIES.size - 1, -1, -1):
        acc = acc * z2 + _SINH_EXCESS_SERIES[k]
    return acc * z2 * z


@numba.njit(cache=True)
def _log_curvature(q: float, cosine: bool) -> float:
    """G''(ln q) for G(x) = ln F(eˣ), F = cosh (``cosine``) or sinh; > 0 for q > 0.

    cosh: q tanh q + q² sech² q;  sinh: q coth q − q²/sinh² q = q (sinh 2q − 2q)/(2 sinh² q).
    """
    e2 = math.exp(-2.0 * q)
    if cosine:
        return q * -math.expm1(-2.0 * q) / (1.0 + e2) + 4.0 * q * q * e2 / (1.0 + e2) ** 2
    if q < 1e-100:  # 2q²/3 (1 + O(q²)); sinh² q would underflow
        return 2.0 * q * q / 3.0
    if q < 0.5:
        return q * _sinh_excess(2.0 * q) / (2.0 * math.sinh(q) ** 2)
    return q * (-math.expm1(-4.0 * q) - 4.0 * q * e2) / math.expm1(-2.0 * q) ** 2


@numba.njit(cache=True)
def _log_ratio(q: float, cosine: bool) -> float:
    """ln cosh q (``cosine``) or ln(sinh q / q) (0 at q = 0), both ≥ 0."""
    if cosine:
        if q < 1.0:
            return math.log1p(2.0 * math.sinh(0.5 * q) ** 2)
        return q + math.log1p(math.exp(-2.0 * q)) - math.log(2.0)
    if q <= 0.0:
        return 0.0
    if q < 1.0:
        return math.log1p(_sinh_excess(q) / q)
    return q + math.log1p(-math.exp(-2.0 * q)) - math.log(2.0 * q)


@numba.njit(cache=True)
def _mismatch_exponent(q1: float, q2: float, r: float, cosine: bool) -> float:
    """X = ½(ln F(q1) + ln F(q2)) − ln F(r) ≥ 0, r = √(q1q2), q1, q2 ≥ 0 (notes above)."""
    h = math.inf
    if 0.25 * q2 < q1 < 4.0 * q2:
        h = math.log1p((q1 - q2) / q2)
    if abs(h) < MISMATCH_QUADRATURE_BELOW:
        acc = 0.0
        for k in range(_MISMATCH_NODES.size):
            step = math.exp(0.5 * h * _MISMATCH_NODES[k])
            pair = _log_curvature(r * step, cosine) + _log_curvature(r / step, cosine)
            acc += _MISMATCH_WEIGHTS[k] * pair
        return h * h / 8.0 * acc
    if min(q1, q2) >= 1.0:
        # ln F(q) = q − ln 2 + ln(1 ± e^{−2q}); ½(q1 + q2) − r = (√q1 − √q2)²/2
        sign = 1.0 if cosine else -1.0
        rest = math.log1p(sign * math.exp(-2.0 * q1)) + math.log1p(sign * math.exp(-2.0 * q2))
        gap = 0.5 * (math.sqrt(q1) - math.sqrt(q2)) ** 2
        return max(gap + 0.5 * rest - math.log1p(sign * math.exp(-2.0 * r)), 0.0)
    # for sinh the ln q parts of ln(sinh q / q) cancel exactly since q1 q2 = r²
    mean = 0.5 * (_log_ratio(q1, cosine) + _log_ratio(q2, cosine))
    return max(mean - _log_ratio(r, cosine), 0.0)


@numba.vectorize(["float64(float64, float64, float64)"], cache=True)
def _sin_product_deficit(q1: float, q2: float, delta: float) -> float:
    """√(V_sin(q1) V_sin(q2)) − E[sin u sin v] at cosine deficit δ (module notes above)."""
    d = min(max(delta, 0.0), 2.0)
    q1, q2 = max(q1, 0.0), max(q2, 0.0)
    if q1 == 0.0 or q2 == 0.0:
        return 0.0
    r = math.sqrt(q1) * math.sqrt(q2)
    decay = math.exp(-0.5 * (math.sqrt(q1) - math.sqrt(q2)) ** 2)  # e^{r − m}
    angular = -0.5 * math.expm1(-r * d) * decay * (1.0 + math.exp(-r * (2.0 - d)))
    mismatch = 0.0
    if q1 != q2:
        x = _mismatch_exponent(q1, q2, r, False)
        moment = -0.5 * decay * math.expm1(-2.0 * r)  # e^{−m} sinh r
        if x < MISMATCH_DIRECT_ABOVE:
            mismatch = moment * math.expm1(x)
        else:
            v1, v2 = -0.5 * math.expm1(-2.0 * q1), -0.5 * math.expm1(-2.0 * q2)
            mismatch = math.sqrt(v1 * v2) - moment
    return angular + mismatch


@numba.vectorize(["float64(float64, float64, float64)"], cache=True)
def _cos_product_deficit(q1: float, q2: float, delta: float) -> float:
    """√(V_cos(q1) V_cos(q2)) − E[cos u cos v] at cosine deficit δ (module notes above)."""
    d = min(max(delta, 0.0), 2.0)
    q1, q2 = max(q1, 0.0), max(q2, 0.0)
    r = math.sqrt(q1) * math.sqrt(q2)
    decay = math.exp(-0.5 * (math.sqrt(q1) - math.sqrt(q2)) ** 2)  # e^{r − m}
    angular = 0.5 * math.expm1(-r * d) * decay * math.expm1(-r * (2.0 - d))
    mismatch = 0.0
    if q1 != q2:
        x = _mismatch_exponent(q1, q2, r, True)
        moment = 0.5 * decay * (1.0 + math.exp(-2.0 * r))  # e^{−m} cosh r
        if x < MISMATCH_DIRECT_ABOVE:
            mismatch = moment * math.expm1(x)
        else:
            v1, v2 = 0.5 * (1.0 + math.exp(-2.0 * q1)), 0.5 * (1.0 + math.exp(-2.0 * q2))
            mismatch = math.sqrt(v1 * v2) - moment
    return angular + mismatch


def _moment_parts(q1: ArrayLike, q2: ArrayLike, q12: ArrayLike) -> tuple[Array, Array, Array]:
    """(e^{a − m}, e^{−2a}, sign q12) with a = |q12| ≤ √(q1q2) and the exponent a − m ≤ 0
    formed as −[(√q1 − √q2)²/2 + (√(q1q2) − a)] (error ~1e-16·√(q1q2), not ~1e-16·m)."""
    q1, q2, q12 = np.broadcast_arrays(as_array(q1), as_array(q2), as_array(q12))
    root1, root2 = clamped_sqrt(q1), clamped_sqrt(q2)
    r = root1 * root2
    a = np.minimum(np.abs(q12), r)
    return np.exp(-0.5 * (root1 - root2) ** 2 - (r - a)), a, np.sign(q12)


def _sinh_moment(q1: ArrayLike, q2: ArrayLike, q12: ArrayLike) -> Array:
    """e^{−(q1+q2)/2} sinh q12 = −½ sign(q12) e^{|q12| − m} expm1(−2|q12|)."""
    decay, a, sign = _moment_parts(q1, q2, q12)
    return -0.5 * sign * decay * np.expm1(-2.0 * a)


def _cosh_moment(q1: ArrayLike, q2: ArrayLike, q12: ArrayLike) -> Array:
    """e^{−(q1+q2)/2} cosh q12 = ½ e^{|q12| − m} (1 + e^{−2|q12|})."""
    decay, a, _ = _moment_parts(q1, q2, q12)
    return 0.5 * decay * (1.0 + np.exp(-2.0 * a))


def _slope_factors(q1: ArrayLike, q2: ArrayLike) -> tuple[Array, Array]:
    """(r e^{−m} sinh r, r e^{−m} cosh r), r = √(q1q2): the c = 1 moments times r."""
    q1, q2 = np.broadcast_arrays(np.maximum(as_array(q1), 0.0), np.maximum(as_array(q2), 0.0))
    r = np.sqrt(q1) * np.sqrt(q2)
    decay = np.exp(-0.5 * (np.sqrt(q1) - np.sqrt(q2)) ** 2)
    return -0.5 * r * decay * np.expm1(-2.0 * r), 0.5 * r * decay * (1.0 + np.exp(-2.0 * r))


@dataclass(frozen=True, eq=False)
class Sin(Activation):
    """φ(x) = sin x (φ' = cos)."""

    def variance(self, q: ArrayLike) -> Array:
        return -0.5 * np.expm1(-2.0 * as_array(q))

    def variance_slope(self, q: ArrayLike) -> Array:
        return np.exp(-2.0 * as_array(q))

    def derivative_variance(self, q: ArrayLike) -> Array:
        return 0.5 * (1.0 + np.exp(-2.0 * as_array(q)))

    def correlation(self, q1: ArrayLike, q2: ArrayLike, q12: ArrayLike) -> Array:
        return _sinh_moment(q1, q2, q12)

    def derivative_correlation(self, q1: ArrayLike, q2: ArrayLike, q12: ArrayLike) -> Array:
        return _cosh_moment(q1, q2, q12)

    def correlation_deficit(self, q1: ArrayLike, q2: ArrayLike, delta: ArrayLike) -> Array:
        return _sin_product_deficit(as_array(q1), as_array(q2), as_array(delta))

    def derivative_correlation_deficit(
        self, q1: ArrayLike, q2: ArrayLike, delta: ArrayLike
    ) -> Array:
        return _cos_product_deficit(as_array(q1), as_array(q2), as_array(delta))

    def small_deficit_slopes(self, q1: ArrayLike, q2: ArrayLike) -> tuple[Array, Array, float]:
        sinh_part, cosh_part = _slope_factors(q1, q2)
        return cosh_part, sinh_part, 1.0


@dataclass(frozen=True, eq=False)
class Cos(Activation):
    """φ(x) = cos x (φ' = −sin)."""

    def variance(self, q: ArrayLike) -> Array:
        return 0.5 * (1.0 + np.exp(-2.0 * as_array(q)))

    def variance_slope(self, q: ArrayLike) -> Array:
        return -np.exp(-2.0 * as_array(q))

    def derivative_variance(self, q: ArrayLike) -> Array:
        return -0.5 * np.expm1(-2.0 * as_array(q))

    def correlation(self, q1: ArrayLike, q2: ArrayLike, q12: ArrayLike) -> Array:
        return _cosh_moment(q1, q2, q12)

    def derivative_correlation(self, q1: ArrayLike, q2: ArrayLike, q12: ArrayLike) -> Array:
        return _sinh_moment(q1, q2, q12)

    def correlation_deficit(self, q1: ArrayLike, q2: ArrayLike, delta: ArrayLike) -> Array:
        return _cos_product_deficit(as_array(q1), as_array(q2), as_array(delta))

    def derivative_correlation_deficit(
        self, q1: ArrayLike, q2: ArrayLike, delta: ArrayLike
    ) -> Array:
        return _sin_product_deficit(as_array(q1), as_array(q2), as_array(delta))

    def small_deficit_slopes(self, q1: ArrayLike, q2: ArrayLike) -> tuple[Array, Array, float]:
        sinh_part, cosh_part = _slope_factors(q1, q2)
        return sinh_part, cosh_part, 1.0
