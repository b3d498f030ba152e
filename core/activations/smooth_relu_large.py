"""softplus and silu expectations at large pre-activation variance, in physical coordinates.

The Hermite series of softplus(√q z) and silu(√q z) need too many terms past q ≈ 100
(:mod:`core.activations.numerical`); above ``threshold`` the expectations are computed here,
in the variable x = u itself, as :mod:`core.activations.large_variance` does for tanh:

* φ = g + r with g(x) = x·Φ(κx), κ = √(π/8) (Φ(κx) matches the logistic σ(x) in value and
  slope at 0), so g(x) = gelu(κx)/κ: E[g(u)g(v)] = E_gelu(κ²q1, κ²q2, κ²q12)/κ² and
  E[g'(u)g'(v)] = E'_gelu(κ²·), gelu's closed forms (:mod:`core.activations.gelu`),
  deficit forms included.
* r = φ − g is analytic within π of the real axis (σ's poles at ±iπ) and, with r' and r'',
  below 1e-15 beyond |x| = L: r = log1p(e^{−|x|}) + |x|Φ(−κ|x|) for softplus and
  |x|(Φ(−κ|x|) − σ(−|x|)) for silu (both even; no cancellation).
* E[φ(u)φ(v)] = E[gg] + E[r(u)g(v)] + E[g(u)r(v)] + E[r(u)r(v)]: the cross terms are 1-D
  integrals over the localised factor, the other's conditional expectation in closed form
  (for v ~ N(m, s²), ρ = √(1 + κ²s²), k = κm/ρ: E[g(v)] = mΦ(k) + κs²φ(k)/ρ and
  E[g'(v)] = Φ(k) + κmφ(k)/ρ³, by Stein's lemma); the last is 2-D, the conditional
  expectation of r on a fixed lattice as for tanh. Likewise for φ' = g' + r'.
* Rules: trapezoidal with step H = 1/4 in x (error ~e^{−2πd/H} for a strip of half-width
  d < π: below 1e-16 of each term), in Z ~ N(0, 1) with step min(½, H/σ) on |Z| ≤ 13, or
  Gauss–Hermite where σ ≤ HERMITE_BELOW.
* Deficits. Where σ ≥ 1, δ ≥ ½ or q1 > 2q2 they are D_g + (√(N1N2) − √(G1G2)) − E_loc
  (N = V or W, G g's part of it, D_g gelu's deficit form, E_loc the localised part of
  E[ff]; the middle term as (G1e2 + G2e1 + e1e2)/(√(N1N2) + √(G1G2)), e = N − G): no
  term of N's size cancels, where √(N1N2) − E[ff] would lose log10 q digits. Otherwise
  (pairs within ~1/q of c = 1, close variances), as for tanh, ½√(N1N2)·E[A²] with
  A = Δ/√N1 + μ f(v), Δ = f(u) − f(v), μ = 1/√N1 − 1/√N2, and Δ = Δ_g + Δ_r split again:
  E[Δ_g²] = (√G1 − √G2)² + 2D_g and E[Δ_g g(v)] = √G2(√G1 − √G2) − D_g from gelu's deficit
  form D_g (G: g's V or W), the rest, E[2Δ_gΔ_r + Δ_r²] and E[Δ_g r(v) + Δ_r f(v)],
  localised 2-D integrals with Δ_h = h(u) − h(v) formed from u − v (itself formed from δ)
  by Gauss–Legendre on [v, u] of h' where |u − v| < ½ (8 points; 2 below 1e-3): no
  cancellation as δ → 0.
* V = G_V + E[r(2g + r)], W = G_W + E[r'(2g' + r')], dV/dq = W + (G_V' − G_W) +
  E[gr'' + rg'' + rr''] (E[φφ''] split, E[gg''] = dG_V/dq − G_W); at c = 1 the slopes
  √(q1q2)·E[φ'(u)φ'(v)] (split likewise) and √(q1q2)·E[φ''(u)φ''(v)] (localised) are 1-D.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numpy.typing import NDArray

from core.activations.base import Array
from core.activations.gelu import Gelu
from core.activations.large_variance import Z_CUT, lattice_conditional, near_frame

SOFTPLUS, SILU = 0, 1
KAPPA = math.sqrt(math.pi / 8.0)
K2 = KAPPA * KAPPA
#: support half-width of r, r', r'' and the trapezoidal step in x
L = 40.0
H = 0.25
#: near c = 1 with σ ≤ this, Z by 20-point Gauss–Hermite: the integrands are analytic in Z
#: within π/σ of the real axis (error ~e^{−(π/σ)√40} < 1e-80)
HERMITE_BELOW = 0.1
_HERMITE_Z, _HERMITE_W = np.polynomial.hermite_e.hermegauss(20)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
SPAN = math.ceil((L + 1.0) / H)
#: Gauss–Legendre rules on [0, 1]: 8 points for the differences h(u) − h(v), 12 for the
#: panels of the cross terms
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(8)
_GL_T = 0.5 * (_GL_NODES + 1.0)
_GL_W = 0.5 * _GL_WEIGHTS
_GL2_LO, _GL2_HI = 0.5 - 0.5 / math.sqrt(3.0), 0.5 + 0.5 / math.sqrt(3.0)
_PANEL_NODES, _PANEL_WEIGHTS = np.polynomial.legendre.leggauss(12)
_PANEL_T = 0.5 * (_PANEL_NODES + 1.0)
_PANEL_W = 0.5 * _PANEL_WEIGHTS


@numba.njit(cache=True, inline="always")
def _ncdf(x: float) -> float:
    return 0.5 * math.erfc(-x * _INV_SQRT_2)


@numba.njit(cache=True, inline="always")
def _npdf(x: float) -> float:
    return _INV_SQRT_2PI * math.exp(-0.5 * x * x)


@numba.njit(cache=True, inline="always")
def _logistic(x: float) -> float:
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@numba.njit(cache=True)
def _phi(act: int, order: int, x: float) -> float:
    """φ^(order)(x), order 0, 1, 2."""
    if order == 0:
        if act == SOFTPLUS:
            return max(x, 0.0) + math.log1p(math.exp(-abs(x)))
        return x * _logistic(x)
    s, t = _logistic(x), _logistic(-x)
    if order == 1:
        return s if act == SOFTPLUS else s * (1.0 + x * t)
    return s * t if act == SOFTPLUS else s * t * (2.0 + x * (t - s))


@numba.njit(cache=True)
def _g(order: int, x: float) -> float:
    """g^(order)(x), g(x) = x·Φ(κx); order 0, 1, 2."""
    y = KAPPA * x
    if order == 0:
        return x * _ncdf(y)
    if order == 1:
        return _ncdf(y) + y * _npdf(y)
    return KAPPA * _npdf(y) * (2.0 - y * y)


@numba.njit(cache=True)
def _r(act: int, order: int, x: float) -> float:
    """r^(order)(x) = φ^(order) − g^(order) (order 0, 1, 2); r itself from its even,
    cancellation-free form."""
    if order == 0:
        a = abs(x)
        if act == SOFTPLUS:
            return math.log1p(math.exp(-a)) + a * _ncdf(-KAPPA * a)
        return a * (_ncdf(-KAPPA * a) - _logistic(-a))
    return _phi(act, order, x) - _g(order, x)


@numba.njit(cache=True)
def _lattice(act: int) -> Array:
    """r^(order)(k·H) for order 0, 1 and |k| ≤ SPAN, shape [2, 2·SPAN + 1]."""
    table = np.empty((2, 2 * SPAN + 1))
    for order in range(2):
        for k in range(-SPAN, SPAN + 1):
            table[order, k + SPAN] = _r(act, order, k * H)
    return table


@numba.njit(cache=True)
def _conditional(act: int, order: int, m: float, sigma: float, table: Array) -> float:
    """E[r^(order)(m + σZ)] (as large_variance._conditional: direct nodes in Z for σ ≤ 2H,
    else :func:`lattice_conditional` on r's table)."""
    if sigma < 1e-300:
        return _r(act, order, m)
    if sigma <= 2.0 * H:
        lo = max(-Z_CUT, (-L - 1.0 - m) / sigma)
        hi = min(Z_CUT, (L + 1.0 - m) / sigma)
        if lo > hi:
            return 0.0
        acc = 0.0
        for j in range(math.ceil(lo / 0.5), math.floor(hi / 0.5) + 1):
            z = j * 0.5
            acc += math.exp(-0.5 * z * z) * _r(act, order, m + sigma * z)
        return acc * 0.5 * _INV_SQRT_2PI
    return lattice_conditional(table[order], SPAN, H, m, sigma)


@numba.njit(cache=True)
def _g_given(order: int, m: float, s: float) -> float:
    """E[g^(order)(v)], v ~ N(m, s²), order 0 or 1 (Stein's lemma)."""
    rho = math.sqrt(1.0 + K2 * s * s)
    k = KAPPA * m / rho
    if order == 0:
        return m * _ncdf(k) + KAPPA * s * s * _npdf(k) / rho
    return _ncdf(k) + KAPPA * m * _npdf(k) / (rho * rho * rho)


@numba.njit(cache=True)
def _nodes(q: float, reach: float) -> tuple[float, int]:
    """(step, count): trapezoidal nodes j·step, |j| ≤ count, over |x| ≤ min(reach, 13√q)."""
    root = math.sqrt(q)
    step = min(H, 0.5 * root)
    return step, math.ceil(min(reach, Z_CUT * root) / step)


@numba.njit(cache=True)
def _local(act: int, code: int, x: float) -> float:
    """The localised integrands: 0: r(2g + r) (V), 1: r'(2g' + r') (W), 2: gr'' + rg'' +
    rr'' (dV/dq), 3: r, 4: r'."""
    if code >= 3:
        return _r(act, code - 3, x)
    if code == 0:
        r = _r(act, 0, x)
        return r * (2.0 * _g(0, x) + r)
    if code == 1:
        r = _r(act, 1, x)
        return r * (2.0 * _g(1, x) + r)
    r = _r(act, 0, x)
    return _g(0, x) * _r(act, 2, x) + r * (_g(2, x) + _r(act, 2, x))


@numba.njit(cache=True)
def _gauss(act: int, code: int, q: float) -> float:
    """E[f(u)], u ~ N(0, q), f = :func:`_local` (act, code); f(0) at q = 0."""
    if q <= 1e-300:
        return _local(act, code, 0.0)
    step, count = _nodes(q, L + 1.0)
    acc = 0.0
    for j in range(-count, count + 1):
        x = j * step
        acc += math.exp(-0.5 * x * x / q) * _local(act, code, x)
    return acc * step * _INV_SQRT_2PI / math.sqrt(q)


@numba.njit(parallel=True, cache=True)
def local_moments(act: int, q: Array) -> tuple[Array, Array, Array]:
    """The localised parts of V, W and dV/dq at each q > 0."""
    v, w, dv = np.empty(q.size), np.empty(q.size), np.empty(q.size)
    for p in numba.prange(q.size):
        v[p] = _gauss(act, 0, q[p])
        w[p] = _gauss(act, 1, q[p])
        dv[p] = _gauss(act, 2, q[p])
    return v, w, dv


@numba.njit(cache=True)
def _cross(act: int, order: int, q: float, a: float, sigma: float) -> float:
    """E[r^(order)(u) g^(order)(v)], u ~ N(0, q), v | u = x ~ N(ax, σ²).

    The conditional expectation of g bends (order 0) or steps (order 1) at x = 0 over a
    width w = √(1 + κ²σ²)/(κ|a|), which may be far below any fixed step (σ → 0 with a
    large): composite Gauss–Legendre in x on panels of width ≤ min(1, √q) (the scales of r
    and of the Gaussian) graded geometrically from w at 0 outwards."""
    root = math.sqrt(q)
    reach = min(L + 1.0, Z_CUT * root)
    panel = min(1.0, root)
    width = (
        panel if a == 0.0 else min(panel, math.sqrt(1.0 + K2 * sigma * sigma) / (KAPPA * abs(a)))
    )
    acc = 0.0
    lo = 0.0
    while lo < reach:
        hi = min(lo + width, reach)
        part = 0.0
        for i in range(_PANEL_T.size):
            x = lo + _PANEL_T[i] * (hi - lo)
            both = _r(act, order, x) * _g_given(order, a * x, sigma) + _r(
                act, order, -x
            ) * _g_given(order, -a * x, sigma)
            part += _PANEL_W[i] * math.exp(-0.5 * x * x / q) * both
        acc += part * (hi - lo)
        lo = hi
        width = min(2.0 * width, panel)
    return acc * _INV_SQRT_2PI / root


@numba.njit(cache=True)
def _product(act: int, order: int, q: float, a: float, sigma: float, table: Array) -> float:
    """E[r^(order)(u) r^(order)(v)]: ∫ p_q(x) r(x) E[r(ax + σZ)] dx."""
    step, count = _nodes(q, L + 1.0)
    acc = 0.0
    for j in range(-count, count + 1):
        x = j * step
        rx = _r(act, order, x)
        if rx != 0.0:
            weight = math.exp(-0.5 * x * x / q)
            acc += weight * rx * _conditional(act, order, a * x, sigma, table)
    return acc * step * _INV_SQRT_2PI / math.sqrt(q)


@numba.njit(cache=True)
def _difference(act: int, order: int, split: bool, u: float, v: float, gap: float) -> float:
    """h(u) − h(v) for h = g^(order) (split False) or r^(order) (True), gap = u − v given:
    Gauss–Legendre on [v, u] of h' where |gap| < ½ (2 points below 1e-3: error
    gap⁵·h⁽⁵⁾/4320), else the plain difference."""
    if abs(gap) >= 0.5:
        if split:
            return _r(act, order, u) - _r(act, order, v)
        return _g(order, u) - _g(order, v)
    if abs(gap) < 1e-3:
        lo, hi = v + _GL2_LO * gap, v + _GL2_HI * gap
        if split:
            return 0.5 * gap * (_r(act, order + 1, lo) + _r(act, order + 1, hi))
        return 0.5 * gap * (_g(order + 1, lo) + _g(order + 1, hi))
    acc = 0.0
    for i in range(_GL_T.size):
        y = v + _GL_T[i] * gap
        acc += _GL_W[i] * (_r(act, order + 1, y) if split else _g(order + 1, y))
    return acc * gap


@numba.njit(cache=True)
def _near(
    act: int, order: int, q1: float, q2: float, c: float, s: float, delta: float
) -> tuple[float, float]:
    """(E[2Δ_gΔ_r + Δ_r²], E[Δ_g r(v) + Δ_r (g(v) + r(v))]) for f = φ^(order), Δ_h =
    h(u) − h(v), u − v formed from δ (q1 ≥ q2)."""
    a, sigma, slope, count, hz, nz, z_weight = near_frame(q1, q2, c, s, delta, L, H)
    zs: Array = hz * np.arange(-nz, nz + 1.0)
    ws: Array = np.exp(-0.5 * zs * zs)
    if 0.0 < sigma <= HERMITE_BELOW:
        zs, ws, z_weight = _HERMITE_Z, _HERMITE_W, _INV_SQRT_2PI
    square = 0.0
    mixed = 0.0
    for j in range(-count, count + 1):
        x = j * H
        inner_square = 0.0
        inner_mixed = 0.0
        for k in range(zs.size):
            v = a * x + sigma * zs[k]
            gap = slope * x - sigma * zs[k]  # u − v
            rv = _r(act, order, v)
            dr = _difference(act, order, True, x, v, gap)
            if dr == 0.0 and rv == 0.0:
                continue
            dg = _difference(act, order, False, x, v, gap)
            weight = ws[k]
            inner_square += weight * dr * (2.0 * dg + dr)
            inner_mixed += weight * (dg * rv + dr * (_g(order, v) + rv))
        gx = math.exp(-0.5 * x * x / q1)
        square += gx * inner_square
        mixed += gx * inner_mixed
    norm = H * z_weight * _INV_SQRT_2PI / math.sqrt(q1)
    return square * norm, mixed * norm


@numba.njit(parallel=True, cache=True)
def local_pairs(
    act: int,
    order: int,
    q1: Array,
    q2: Array,
    delta: Array,
    near: NDArray[np.bool_],
) -> tuple[Array, Array, Array]:
    """Per entry (q1 ≥ q2 already): the localised part of E[f(u)f(v)] (f = φ^(order)), and
    where ``near`` the two localised integrals of :func:`_near` (else 0)."""
    size = q1.size
    value = np.empty(size)
    square = np.zeros(size)
    mixed = np.zeros(size)
    table = _lattice(act)
    for p in numba.prange(size):
        qa, qb = q1[p], q2[p]
        d = min(max(delta[p], 0.0), 2.0)
        c = 1.0 - d
        s = math.sqrt(d * (2.0 - d))
        if qb <= 1e-300:  # v ≡ 0: E[f(u)]f(0) − E[g(u)]g(0) = E[g(u)]r(0) + E[r(u)]f(0)
            mean_r = _gauss(act, 3 + order, qa)
            value[p] = _g_given(order, 0.0, math.sqrt(qa)) * _r(act, order, 0.0) + mean_r * _phi(
                act, order, 0.0
            )
            continue
        a = c * math.sqrt(qb / qa)
        sigma = math.sqrt(qb) * s
        back = c * math.sqrt(qa / qb)  # u | v = y ~ N(back·y, qa s²)
        value[p] = (
            _cross(act, order, qa, a, sigma)
            + _cross(act, order, qb, back, math.sqrt(qa) * s)
            + _product(act, order, qa, a, sigma, table)
        )
        if near[p]:
            square[p], mixed[p] = _near(act, order, qa, qb, c, s, d)
    return value, square, mixed


@numba.njit(parallel=True, cache=True)
def local_slopes(act: int, q1: Array, q2: Array) -> tuple[Array, Array]:
    """At c = 1 (q1 ≥ q2): √(q1q2)·(the localised part of E[φ'(u)φ'(v)]) and
    √(q1q2)·E[φ''(u)φ''(v)] (φ'' is localised), v = √(q2/q1)·u."""
    a = np.zeros(q1.size)
    b = np.zeros(q1.size)
    table = _lattice(act)
    for p in numba.prange(q1.size):
        qa, qb = q1[p], q2[p]
        if qb <= 1e-300:
            continue
        ratio = math.sqrt(qb / qa)
        root = math.sqrt(qa * qb)
        a[p] = root * (
            _cross(act, 1, qa, ratio, 0.0)
            + _cross(act, 1, qb, 1.0 / ratio, 0.0)
            + _product(act, 1, qa, ratio, 0.0, table)
        )
        step, count = _nodes(qa, L + 1.0)
        acc = 0.0
        for j in range(-count, count + 1):
            x = j * step
            acc += math.exp(-0.5 * x * x / qa) * _phi(act, 2, x) * _phi(act, 2, ratio * x)
        b[p] = root * acc * step * _INV_SQRT_2PI / math.sqrt(qa)
    return a, b


class SmoothReluLarge:
    """softplus's (``act`` SOFTPLUS) or silu's (SILU) expectations by the rules above
    (numpy in, numpy out; any shape)."""

    #: variances above which this rule is used (the Hermite series of softplus and silu
    #: need more than numerical.MAX_TERMS terms past q ≈ 113 and 80)
    threshold = 32.0

    def __init__(self, act: int) -> None:
        self.act = act
        self._gelu = Gelu("gelu")

    def _g_moments(self, q: Array) -> tuple[Array, Array, Array]:
        """g's (V, W, dV/dq): gelu's at κ²q."""
        k = K2 * q
        gelu = self._gelu
        return gelu.variance(k) / K2, gelu.derivative_variance(k), gelu.variance_slope(k)

    def moments(self, q: Array) -> tuple[Array, Array, Array]:
        """(V, W, dV/dq) at q > 0."""
        flat = np.ascontiguousarray(q, dtype=np.float64).ravel()
        gv, gw, gdv = self._g_moments(flat)
        lv, lw, ldv = local_moments(self.act, flat)
        w = gw + lw
        v, dv = gv + lv, w + (gdv - gw) + ldv
        return v.reshape(np.shape(q)), w.reshape(np.shape(q)), dv.reshape(np.shape(q))

    def _norm_parts(self, derivative: bool, q: Array) -> tuple[Array, Array]:
        """(G, e): g's V (or W) and the localised rest, N = G + e, at flat q."""
        unique, inverse = np.unique(q, return_inverse=True)
        gv, gw, _ = self._g_moments(unique)
        lv, lw, _ = local_moments(self.act, unique)
        return (gw if derivative else gv)[inverse], (lw if derivative else lv)[inverse]

    def pairs(
        self, derivative: bool, q1: Array, q2: Array, delta: Array, want_deficit: bool
    ) -> tuple[Array, Array]:
        """(E[f(u)f(v)], deficit) for f = φ or φ' over equal-shape arrays."""
        shape = np.shape(q1)
        qa = np.ascontiguousarray(np.maximum(q1, q2), dtype=np.float64).ravel()
        qb = np.ascontiguousarray(np.minimum(q1, q2), dtype=np.float64).ravel()
        d = np.ascontiguousarray(np.clip(delta, 0.0, 2.0), dtype=np.float64).ravel()
        ka, kb = K2 * qa, K2 * qb
        q12 = (1.0 - d) * np.sqrt(ka) * np.sqrt(kb)
        gelu = self._gelu
        if derivative:
            closed = gelu.derivative_correlation(ka, kb, q12)
            g_deficit = gelu.derivative_correlation_deficit(ka, kb, d)
        else:
            closed = gelu.correlation(ka, kb, q12) / K2
            g_deficit = gelu.correlation_deficit(ka, kb, d) / K2
        sigma = np.sqrt(qb * d * (2.0 - d))
        near = want_deficit & (sigma < 1.0) & (d < 0.5) & (qa <= 2.0 * qb) & (qb > 1e-300)
        near &= (d > 0.0) | (qa != qb)  # equal points: deficit 0, set below
        local, square, mixed = local_pairs(self.act, int(derivative), qa, qb, d, near)
        value = closed + local
        if not want_deficit:
            return value.reshape(shape), np.zeros(shape)
        g, e = self._norm_parts(derivative, np.concatenate([qa, qb]))
        ga, gb, ea, eb = g[: qa.size], g[qa.size :], e[: qa.size], e[qa.size :]
        na, nb = ga + ea, gb + eb
        # √(NaNb) − √(GaGb) − (the localised part of E[ff]) + g's deficit: no term of the
        # size of N cancels (√(NaNb) − E[ff] would lose log10 q digits where qδ ~ 1)
        lift = (ga * eb + gb * ea + ea * eb) / (np.sqrt(na * nb) + np.sqrt(ga * gb))
        deficit = np.maximum(g_deficit + lift - local, 0.0)
        deficit[(d == 0.0) & (qa == qb)] = 0.0
        if np.any(near):
            na, nb, ga, gb = na[near], nb[near], ga[near], gb[near]
            ra, rb = np.sqrt(na), np.sqrt(nb)
            mu = (nb - na) / (ra * rb * (ra + rb))
            root_gb = np.sqrt(gb)
            g_gap = (ga - gb) / (np.sqrt(ga) + root_gb)  # √G_a − √G_b
            square = g_gap * g_gap + 2.0 * g_deficit[near] + square[near]
            mixed = root_gb * g_gap - g_deficit[near] + mixed[near]
            total = square / na + 2.0 * mu * mixed / ra + mu * mu * nb
            deficit[near] = np.maximum(0.5 * ra * rb * total, 0.0)
        return value.reshape(shape), deficit.reshape(shape)

    def slopes(self, q1: Array, q2: Array) -> tuple[Array, Array]:
        """√(q1q2)·E[φ'(u)φ'(v)] and √(q1q2)·E[φ''(u)φ''(v)] at c = 1."""
        shape = np.shape(q1)
        qa = np.ascontiguousarray(np.maximum(q1, q2), dtype=np.float64).ravel()
        qb = np.ascontiguousarray(np.minimum(q1, q2), dtype=np.float64).ravel()
        local, b = local_slopes(self.act, qa, qb)
        root = np.sqrt(qa) * np.sqrt(qb)
        closed = self._gelu.derivative_correlation(K2 * qa, K2 * qb, K2 * root)
        return (root * closed + local).reshape(shape), b.reshape(shape)
