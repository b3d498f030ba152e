"""gelu, φ(x) = x·Φ(x) (Φ the standard normal CDF): closed-form Gaussian expectations.

Notation as in :mod:`core.activations.base`; P_i = 1 + q_i, R = √(P1P2), r = √(q1q2),
t = q12 = r c, D_t = R² − t², S = 1/P1 + 1/P2; ϕ is the standard normal density.

Derivation. φ' = Φ + xϕ, φ'' = (2 − x²)ϕ. With independent a, b ~ N(0, 1),
E[Φ(u)Φ(v)] = P(u − a ≥ 0, v − b ≥ 0), an orthant probability of a Gaussian pair with
correlation t/R: 1/4 + arcsin(t/R)/2π. A density factor ϕ(u) turns the Gaussian of (u, v)
into another one (covariance (Σ⁻¹ + e₁e₁ᵀ)⁻¹, mass 1/√(2πP1)), and Stein's lemma finishes:
E[uϕ(u)Φ(v)] = t/(2π P1 √D_t), E[uϕ(u) vϕ(v)] = t/(2π D_t^{3/2}). Hence

    E[φ'(u)φ'(v)] = 1/4 + arcsin(t/R)/2π + t (S + 1/D_t) / (2π √D_t)

and, integrating in t (Price's theorem, dE[φφ]/dt = E[φ'φ']) from E[φ]E[φ] =
q1q2/(2πR) at t = 0 (the constants cancel exactly),

    E[φ(u)φ(v)] = t/4 + t arcsin(t/R)/2π + (q1q2 R² + t²(1 − q1q2)) / (2π R² √D_t)
    V(q) = q/4 + q arcsin(q/(1+q))/2π + q² / (π (1+q) √(1+2q)),       dV/dq = g + q g'
    W(q) = 1/4 + arcsin(q/(1+q))/2π + q (3+5q) / (2π (1+q) (1+2q)^{3/2})

with g = V/q and q g' = q(3+5q)/(2π(1+q)²(1+2q)^{3/2}) (the AAAI 2021 result of Tsuchida
et al. for gelu). E[φ''φ''] at c = 1 is (1/2π)[1/√D + S(D + r²)/D^{3/2} + (D + 3r²)/D^{5/2}],
D = 1 + q1 + q2. The values are evaluated as t/4 + t arcsin(t/R)/2π = t·arccos(−t/R)/2π
(small and accurate as c → −1), and every arcsine near 1 by atan2 (arcsin(q/(1+q)) =
atan2(q, √(1+2q))): arcsin x itself would lose √q ulps as x → 1.

Deficits, with s = r/R = sin α, ρ = t/R = sin β, c_s = √(1 − s²) = √D_r/R, c_t = √D_t/R,
w = s² − ρ² = s²δ(2 − δ) and e = α − β (an arcsine difference by atan2, as for erf).
Each splits as angular part (the c-dependence at fixed q1, q2) + norm mismatch:

    E[φφ](c=1) − E[φφ] = rδ/4 + (1/2π)[R (J(s) − J(ρ)) + (√D_t − √D_r)(S + 1/√(D_tD_r))]
    E[φ'φ'](c=1) − E[φ'φ'] = (1/2π)[e + S (r/√D_r − t/√D_t) + (r/D_r^{3/2} − t/D_t^{3/2})]

with J(x) = x arcsin x + √(1 − x²) and, exactly, J(s) − J(ρ) = s[β(1 − cos e) + (e − sin e)]
+ c_s[β sin e + 1 − cos e], √D_t − √D_r = R w/(c_s + c_t), r/√D_r − t/√D_t = rδ/√D_r +
t(√D_t − √D_r)/√(D_rD_t): every term is ≥ 0 for c ≥ 0 and O(δ), so nothing cancels.

Norm mismatch. At c = 1, E[φφ] = r κ(m, r) and E[φ'φ'] = Ω(m, r) with m = (q1 + q2)/2:

    κ = 1/4 + arcsin(r/R)/2π + r(1 + m)/(π R² √D)
    Ω = 1/4 + arcsin(r/R)/2π + r[(2 + 2m)/R² + 1/D]/(2π √D)

(R² = D + r², D = 1 + 2m), and V(q) = q κ(q, q), W(q) = Ω(q, q). Writing q_{1,2} = r e^{±τ}
(m = r cosh τ, τ = |ln(q1/q2)|/2), the mismatch √(V1V2) − E[φφ](c=1) is r times

    [√(g1g2) − g(r)] + [κ(r, r) − κ(m, r)] = g(r)·expm1(X) + (1/2π)∫₀^τ F(r cosh σ) r sinh σ dσ,
    X = ∫₀^τ (τ − σ) ½[G''(ln r + σ) + G''(ln r − σ)] dσ,   G(x) = ln g(eˣ),
    F = −2π ∂κ/∂m = r[(5 + 4m)D + r²] / (R⁴ D^{3/2}) > 0,

and likewise for W with G = ln W and F + 3r/D^{5/2} (= −2π ∂Ω/∂m). G'' = (D²g)/g − (Dg/g)²
in the log-derivative D = q d/dq is rational times a₁ = q/((1+q)√(1+2q)) (_log_curvature).
Both integrals are summed by Gauss–Legendre on panels of width ≤ ``PANEL`` in σ, 4 to 8
nodes by width (error ~1e-17 relative, measured against mpmath), so the mismatch keeps
its relative accuracy as q1 → q2 (it is O((q1 − q2)²); the two parts have opposite signs
above q ≈ 0.6 but their sum is ≥ 1/14 of either). Beyond τ > ``TAU_MAX``
(q1/q2 > e^64), and where the angular part exceeds ``DIRECT_ABOVE``·√(V1V2) (the mismatch
then needs no relative accuracy of its own: the deficit stays within ~2e-14), it is the
difference of closed forms (absolute error ~1e-16·√(V1V2)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
from numpy.typing import ArrayLike

from core.activations.base import Activation, Array, as_array
from core.activations.closed_forms import x_minus_sin

#: Gauss–Legendre panel width in σ and the largest τ = |ln(q1/q2)|/2 integrated so
#: (64 panels: q1/q2 up to e^64 ≈ 6e27)
PANEL = 0.5
TAU_MAX = 32.0
#: angular part / √(V1V2) above which the mismatch is a difference of closed forms (its
#: error, ~1e-16·√(V1V2), is then ≲ 2e-14 of the deficit)
DIRECT_ABOVE = 0.01


def _unit_rule(n: int) -> Array:
    """n-point Gauss–Legendre on [0, 1]: rows (nodes, weights)."""
    nodes, weights = np.polynomial.legendre.leggauss(n)
    return np.array([0.5 * (nodes + 1.0), 0.5 * weights])


#: Gauss–Legendre rules on [0, 1] by panel width: the error is ~(0.19·width)^(2n) (the
#: integrands' nearest singularities lie ~2.6 from the real axis), below 1e-17 with 4 nodes
#: up to width 0.04, 6 up to 0.2 and 8 up to ``PANEL``
_RULE_4, _RULE_6, _RULE_8 = _unit_rule(4), _unit_rule(6), _unit_rule(8)

_TWO_PI = 2.0 * math.pi


@numba.njit(cache=True)
def _frame(q1: float, q2: float) -> tuple[float, float, float, float, float, float]:
    """(r, R, s, c_s, √D_r, S) at c = 1 for q1, q2 ≥ 0 (notation of the module doc)."""
    p1, p2 = 1.0 + q1, 1.0 + q2
    r = math.sqrt(q1) * math.sqrt(q2)
    big_r = math.sqrt(p1) * math.sqrt(p2)
    s = math.sqrt(q1 / p1) * math.sqrt(q2 / p2)
    c_s = math.sqrt(1.0 / p2 + (q2 / p2) / p1)  # √((1 + q1 + q2)/(P1P2))
    return r, big_r, s, c_s, math.sqrt(1.0 + q1 + q2), 1.0 / p1 + 1.0 / p2


@numba.njit(cache=True)
def _angular(q1: float, q2: float, delta: float, derivative: bool) -> float:
    """E[φφ](c=1) − E[φφ] (or the same for φ') at cosine deficit δ: the angular part."""
    d = min(max(delta, 0.0), 2.0)
    r, big_r, s, c_s, root_dr, total = _frame(q1, q2)
    rho = s * (1.0 - d)
    w = s * s * d * (2.0 - d)
    c_t = math.sqrt(c_s * c_s + w)
    root_dt = big_r * c_t
    t = r * (1.0 - d)
    # e = arcsin s − arcsin ρ from its sine and cosine (no √ε loss near c = 1)
    if rho >= 0.0:
        denominator = s * c_t + rho * c_s
        sine = w / denominator if denominator > 0.0 else 0.0
    else:
        sine = s * c_t - rho * c_s
    e = math.atan2(sine, c_s * c_t + s * rho)
    gap = big_r * w / (c_s + c_t)  # √D_t − √D_r
    if derivative:
        first = r * d / root_dr + (t / root_dr) * (gap / root_dt)
        # r/D_r^{3/2} − t/D_t^{3/2} = rδ/D_r^{3/2} + t(√D_t³ − √D_r³)/(D_r D_t)^{3/2}
        spread = 1.0 / root_dr / root_dr + 1.0 / root_dr / root_dt + 1.0 / root_dt / root_dt
        second = (r / root_dr) * d / root_dr / root_dr + (t / root_dr) * (gap / root_dt) * spread
        return max(e + total * first + second, 0.0) / _TWO_PI
    beta = math.atan2(rho, c_t)
    half = math.sin(0.5 * e)
    one_minus_cos = 2.0 * half * half
    j_gap = s * (beta * one_minus_cos + x_minus_sin(e)) + c_s * (beta * math.sin(e) + one_minus_cos)
    rest = big_r * j_gap + gap * (total + 1.0 / root_dt / root_dr)
    return max(0.25 * r * d + rest / _TWO_PI, 0.0)


@numba.njit(cache=True)
def _rational(q: float) -> tuple[float, float, float, float]:
    """Rational factors of q g', q(q g')', q W', q(q W')' (times a₁/2π: module doc).

    (3+5q)/d, (3+4q−10q²−15q³)/d², (4+12q+9q²−q³)/(d e), (4+8q−13q²−46q³−32q⁴+q⁵)/(d² e)
    with d = (1+q)(1+2q), e = 1+2q; in u = 1/q above q = 1 (no overflow).
    """
    if q <= 1.0:
        d = (1.0 + q) * (1.0 + 2.0 * q)
        e = 1.0 + 2.0 * q
        return (
            (3.0 + 5.0 * q) / d,
            (3.0 + q * (4.0 - q * (10.0 + 15.0 * q))) / (d * d),
            (4.0 + q * (12.0 + q * (9.0 - q))) / (d * e),
            (4.0 + q * (8.0 - q * (13.0 + q * (46.0 + q * (32.0 - q))))) / (d * d * e),
        )
    u = 1.0 / q
    a, b = 1.0 + u, 2.0 + u
    return (
        u * (5.0 + 3.0 * u) / (a * b),
        u * (-15.0 + u * (-10.0 + u * (4.0 + 3.0 * u))) / (a * a * b * b),
        (-1.0 + u * (9.0 + u * (12.0 + 4.0 * u))) / (a * b * b),
        (1.0 + u * (-32.0 + u * (-46.0 + u * (-13.0 + u * (8.0 + 4.0 * u))))) / (a * a * b**3),
    )


@numba.njit(cache=True)
def _g_and_w(q: float) -> tuple[float, float, float]:
    """(g, W, a₁) at q ≥ 0: g = V/q, W = E[φ'²], a₁ = q/((1+q)√(1+2q))."""
    root = math.sqrt(1.0 + 2.0 * q)
    a1 = (q / (1.0 + q)) / root
    angle = math.atan2(q, root)  # arcsin(q/(1+q))
    g = 0.25 + (angle + 2.0 * a1) / _TWO_PI
    w = 0.25 + (angle + a1 * (3.0 + 5.0 * q) / (1.0 + 2.0 * q)) / _TWO_PI
    return g, w, a1


@numba.njit(cache=True)
def _log_curvature(q: float, derivative: bool) -> float:
    """G''(ln q) for G(x) = ln g(eˣ) (or ln W(eˣ) for ``derivative``)."""
    g, w, a1 = _g_and_w(q)
    dg, ddg, dw, ddw = _rational(q)
    if derivative:
        first = a1 * dw / (_TWO_PI * w)
        return a1 * ddw / (_TWO_PI * w) - first * first
    first = a1 * dg / (_TWO_PI * g)
    return a1 * ddg / (_TWO_PI * g) - first * first


@numba.njit(cache=True)
def _c1_moments(q1: float, q2: float) -> tuple[float, float]:
    """(κ, Ω): E[φφ]/r and E[φ'φ'] at c = 1 (r = √(q1q2); κ is unused at r = 0)."""
    r, big_r, s, c_s, root_dr, total = _frame(q1, q2)
    angle = math.atan2(s, c_s)  # arcsin s
    kappa = 0.25 + (angle + s * c_s + s / big_r / root_dr) / _TWO_PI
    omega = 0.25 + (angle + total * r / root_dr + (r / root_dr) / root_dr / root_dr) / _TWO_PI
    return kappa, omega


@numba.njit(cache=True)
def _mismatch(q1: float, q2: float, derivative: bool, angular: float) -> float:
    """√(V1V2) − E[φφ](c=1) (or √(W1W2) − E[φ'φ'](c=1)) ≥ 0, by the module doc.

    The difference of closed forms (error ~1e-16·√(V1V2)) where the angular part, which
    the mismatch is added to, exceeds ``DIRECT_ABOVE``·√(V1V2) (√(W1W2) for φ').
    """
    if q1 == q2:
        return 0.0
    r = math.sqrt(q1) * math.sqrt(q2)
    if r == 0.0:
        tau = math.inf
    elif 0.25 * q2 < q1 < 4.0 * q2:
        tau = 0.5 * abs(math.log1p((q1 - q2) / q2))
    else:
        tau = 0.5 * abs(math.log(q1) - math.log(q2))
    g1, w1, _ = _g_and_w(q1)
    g2, w2, _ = _g_and_w(q2)
    scale = math.sqrt(w1 * w2) if derivative else r * math.sqrt(g1 * g2)
    if tau > TAU_MAX or angular >= DIRECT_ABOVE * scale:
        kappa, omega = _c1_moments(q1, q2)
        if derivative:
            return max(math.sqrt(w1 * w2) - omega, 0.0)
        return max(r * (math.sqrt(g1 * g2) - kappa), 0.0)
    panels = max(1, math.ceil(tau / PANEL))
    width = tau / panels
    rule = _RULE_4 if width <= 0.04 else (_RULE_6 if width <= 0.2 else _RULE_8)
    exponent = 0.0
    shift = 0.0
    for panel in range(panels):
        for k in range(rule.shape[1]):
            sigma = (panel + rule[0, k]) * width
            weight = rule[1, k] * width
            grow = math.expm1(sigma)  # e^σ − 1: e^{±σ}, cosh σ, sinh σ from one call
            step = 1.0 + grow
            curvature = 0.5 * (
                _log_curvature(r * step, derivative) + _log_curvature(r / step, derivative)
            )
            exponent += weight * (tau - sigma) * curvature
            mu = r * (0.5 * (step + 1.0 / step))
            dd = 1.0 + 2.0 * mu
            root_d = math.sqrt(dd)
            big_r = math.sqrt(dd + r * r) if r < 1e150 else math.hypot(root_d, r)
            ratio = r / big_r
            slope = (ratio / big_r) * ((5.0 + 4.0 * mu) / big_r / big_r / root_d) + (
                ratio / big_r
            ) * ratio * ratio / dd / root_d
            if derivative:
                slope += 3.0 * (r / dd) / dd / root_d
            shift += weight * slope * r * (0.5 * grow * (1.0 + 1.0 / step))  # r sinh σ
    g, w, _ = _g_and_w(r)
    if derivative:
        return max(w * math.expm1(exponent) + shift / _TWO_PI, 0.0)
    return max(r * (g * math.expm1(exponent) + shift / _TWO_PI), 0.0)


@numba.vectorize(["float64(float64, float64, float64)"], target="parallel", cache=True)
def _gelu_deficit(q1: float, q2: float, delta: float) -> float:
    """√(V1V2) − E[φ(u)φ(v)] at cosine deficit δ: angular part + norm mismatch."""
    q1, q2 = max(q1, 0.0), max(q2, 0.0)
    angular = _angular(q1, q2, delta, False)
    return angular + _mismatch(q1, q2, False, angular)


@numba.vectorize(["float64(float64, float64, float64)"], target="parallel", cache=True)
def _gelu_derivative_deficit(q1: float, q2: float, delta: float) -> float:
    """√(W1W2) − E[φ'(u)φ'(v)] at cosine deficit δ: angular part + norm mismatch."""
    q1, q2 = max(q1, 0.0), max(q2, 0.0)
    angular = _angular(q1, q2, delta, True)
    return angular + _mismatch(q1, q2, True, angular)


def _pair_frame(q1: ArrayLike, q2: ArrayLike, q12: ArrayLike) -> tuple[Array, ...]:
    """(t, R, ρ = t/R, √(1 − ρ²), √D_t, S, r) broadcast, with |t| ≤ r = √(q1q2)."""
    q1, q2, q12 = np.broadcast_arrays(
        np.maximum(as_array(q1), 0.0), np.maximum(as_array(q2), 0.0), as_array(q12)
    )
    p1, p2 = 1.0 + q1, 1.0 + q2
    r = np.sqrt(q1) * np.sqrt(q2)
    t = np.clip(q12, -r, r)
    big_r = np.sqrt(p1) * np.sqrt(p2)
    rho = t / big_r
    # 1 − ρ² = (1 + q1 + q2)/(P1P2) + (r² − t²)/R², both parts ≥ 0
    c_t = np.sqrt(1.0 / p2 + (q2 / p2) / p1 + ((r - t) / big_r) * ((r + t) / big_r))
    return t, big_r, rho, c_t, big_r * c_t, 1.0 / p1 + 1.0 / p2, r


@dataclass(frozen=True, eq=False)
class Gelu(Activation):
    """φ(x) = x·Φ(x) (exact gelu, not the tanh approximation)."""

    def variance(self, q: ArrayLike) -> Array:
        q = np.maximum(as_array(q), 0.0)
        root = np.sqrt(1.0 + 2.0 * q)
        return q / 4 + q * np.arctan2(q, root) / _TWO_PI + q * (q / (1.0 + q)) / (np.pi * root)

    def variance_slope(self, q: ArrayLike) -> Array:
        q = np.maximum(as_array(q), 0.0)
        root = np.sqrt(1.0 + 2.0 * q)
        a1 = (q / (1.0 + q)) / root
        g = 0.25 + (np.arctan2(q, root) + 2.0 * a1) / _TWO_PI
        return g + a1 * ((3.0 + 5.0 * q) / (1.0 + 2.0 * q)) / ((1.0 + q) * _TWO_PI)

    def derivative_variance(self, q: ArrayLike) -> Array:
        q = np.maximum(as_array(q), 0.0)
        root = np.sqrt(1.0 + 2.0 * q)
        a1 = (q / (1.0 + q)) / root
        return 0.25 + (np.arctan2(q, root) + a1 * (3.0 + 5.0 * q) / (1.0 + 2.0 * q)) / _TWO_PI

    def correlation(self, q1: ArrayLike, q2: ArrayLike, q12: ArrayLike) -> Array:
        t, big_r, rho, c_t, root_dt, _, r = _pair_frame(q1, q2, q12)
        # t/4 + t arcsin ρ/2π = t arccos(−ρ)/2π;  (q1q2R² + t²(1 − q1q2))/(R²√D_t) below
        angle = np.arctan2(c_t, -rho)
        rest = r * (r / big_r) * c_t + rho * rho / root_dt
        return (t * angle + rest) / _TWO_PI

    def derivative_correlation(self, q1: ArrayLike, q2: ArrayLike, q12: ArrayLike) -> Array:
        t, _, rho, c_t, root_dt, total, _ = _pair_frame(q1, q2, q12)
        angle = np.arctan2(c_t, -rho)
        rest = (t / root_dt) * (total + 1.0 / root_dt / root_dt)
        return (angle + rest) / _TWO_PI

    def correlation_deficit(self, q1: ArrayLike, q2: ArrayLike, delta: ArrayLike) -> Array:
        return _gelu_deficit(as_array(q1), as_array(q2), as_array(delta))

    def derivative_correlation_deficit(
        self, q1: ArrayLike, q2: ArrayLike, delta: ArrayLike
    ) -> Array:
        return _gelu_derivative_deficit(as_array(q1), as_array(q2), as_array(delta))

    def small_deficit_slopes(self, q1: ArrayLike, q2: ArrayLike) -> tuple[Array, Array, float]:
        """a = r E[φ'φ'] and b = r E[φ''φ''] at c = 1 (module doc), r = √(q1q2)."""
        _, _, _, _, root_d, total, r = _pair_frame(q1, q2, np.inf)
        rd = r / root_d
        slope = r * self.derivative_correlation(q1, q2, r)
        curvature = (
            1.0 / root_d
            + total * (1.0 / root_d + rd * rd / root_d)
            + (1.0 + 3.0 * rd * rd) / root_d / root_d / root_d
        )
        return slope, r * curvature / _TWO_PI, 1.0
