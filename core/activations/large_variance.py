"""tanh (and sigmoid) expectations at large pre-activation variance, in physical coordinates.

At variance q the Hermite series of tanh(√q z) needs K ≈ 115 q terms; beyond
``numerical.MAX_TERMS`` the expectations are computed here instead, in the variable
x = u itself, where tanh has features of width 1 whatever q is:

* u ~ N(0, q1) and, given u = x, v ~ N(a x, σ²) with a = c √(q2/q1), σ = √q2 · s,
  s = √(δ(2 − δ)), δ = 1 − c (the roles are swapped so that q1 ≥ q2).
* tanh = erf(κx) + r(x) with κ = √π/2: erf's expectations are closed forms
  (E[erf(κu) erf(κv)] = (2/π) arcsin(2κ²q12/√((1 + 2κ²q1)(1 + 2κ²q2))),
  E[erf(κ(m + σZ))] = erf(κm/√(1 + 2κ²σ²))), and r = tanh − erf(κ·) is smooth and below
  1e-16 beyond |x| = L = 20, as are tanh' = sech² and tanh'' = −2 tanh sech². So

      E[tanh u tanh v] = E[erf erf] + E[erf(κu) r(v)] + E[r(u) erf(κv)] + E[r(u) r(v)],

  with one-dimensional integrals over the localised factor (conditional expectation of the
  other in closed form) and one two-dimensional integral over [−L, L]²;
  E[sech² u sech² v] is a two-dimensional integral over [−L, L]².
* Rules: trapezoidal in x with step H = 1/5 (the integrands are analytic within π/2 of
  the real axis, with poles of order ≤ 6 there: error ~1e-15); the conditional expectation over
  Z ~ N(0, 1) by the trapezoidal rule with step min(½, H/σ) on |Z| ≤ 13 (clipped to the
  support of a localised integrand).
* Deficits. Where σ ≥ 1, δ ≥ ½ or q1 > 2 q2 they are √(V1V2) − E[φφ] (the deficit is then
  at least ~1/√q of √(V1V2): at most log₁₀√q digits lost). Otherwise (c within ~1/q of 1,
  close variances) they are ½√(V1V2)·E[A²] with A = φ(u)/√V1 − φ(v)/√V2 = Δ/√V1 + μφ(v),
  Δ = φ(u) − φ(v), μ = 1/√V1 − 1/√V2:

      √(V1V2) − E[φ(u)φ(v)] = ½√(V1V2) [E[Δ²]/V1 + 2μ E[Δ φ(v)]/√V1 + μ² V2],

  with Δ = sinh(u − v)/(cosh u cosh v) for tanh and −Δ·(tanh u + tanh v) for sech², and
  u − v = ((√q1 − √q2 + δ√q2)/√q1)·x − σZ formed from δ: no cancellation as δ → 0.
* V = 1 − E[sech² u], W = E[sech⁴ u], dV/dq = E[u tanh u sech² u]/q, and at c = 1 the
  slopes √(q1q2)·E[φ'(u)φ'(v)], √(q1q2)·E[φ''(u)φ''(v)] are one-dimensional integrals.

sigmoid(x) = ½ + ½ tanh(x/2) reduces to tanh at q/4 (:class:`SigmoidLarge`).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from core.activations.base import Array

#: support half-width of the localised functions, and the trapezoidal step in x
L = 20.0
H = 0.2
KAPPA = math.sqrt(math.pi) / 2.0
#: the Gaussian in Z is cut at |Z| = 13 (weight e^{−84.5})
Z_CUT = 13.0
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@numba.njit(cache=True)
def _sech2(x: float) -> float:
    if abs(x) > 350.0:
        return 0.0
    e = math.exp(-2.0 * abs(x))
    return 4.0 * e / ((1.0 + e) * (1.0 + e))


@numba.njit(cache=True)
def _rest(x: float) -> float:
    """r(x) = tanh x − erf(κx)."""
    return math.tanh(x) - math.erf(KAPPA * x)


@numba.njit(cache=True)
def _local(kind: int, x: float) -> float:
    """0: r, 1: sech², 2: tanh'' = −2 tanh sech², 3: tanh² (not localised: q ≤ 2.6 only),
    4: x tanh x sech² x."""
    if kind == 0:
        return _rest(x)
    if kind == 1:
        return _sech2(x)
    if kind == 2:
        return -2.0 * math.tanh(x) * _sech2(x)
    if kind == 3:
        return math.tanh(x) ** 2
    return x * math.tanh(x) * _sech2(x)


@numba.njit(cache=True)
def _gauss(q: float, kind: int, power: int) -> float:
    """E[f(u)^power], u ~ N(0, q), f localised (kind as in :func:`_local`)."""
    root = math.sqrt(q)
    step = min(H, 0.5 * root)
    count = math.ceil(min(L + 1.0, Z_CUT * root) / step)
    acc = 0.0
    for j in range(-count, count + 1):
        x = j * step
        acc += math.exp(-0.5 * x * x / q) * _local(kind, x) ** power
    return acc * step * _INV_SQRT_2PI / root


#: the fixed lattice x_k = k·H, |x_k| ≤ L + 1, on which broad conditional expectations sum
SPAN = math.ceil((L + 1.0) / H)


@numba.njit(cache=True)
def _lattice() -> Array:
    """f(k·H) for the localised kinds 0, 1, 2 and |k| ≤ SPAN, shape [3, 2·SPAN + 1]."""
    table = np.empty((3, 2 * SPAN + 1))
    for kind in range(3):
        for k in range(-SPAN, SPAN + 1):
            table[kind, k + SPAN] = _local(kind, k * H)
    return table


@numba.njit(cache=True)
def _conditional(kind: int, m: float, sigma: float, table: Array) -> float:
    """E[f(m + σZ)] for a localised f (kind as in :func:`_local`).

    σ ≤ 2H: trapezoidal in Z with step ½. Otherwise :func:`lattice_conditional` on the
    fixed lattice k·H (f tabulated once).
    """
    if sigma < 1e-300:
        return _local(kind, m)
    if sigma <= 2.0 * H:
        lo = max(-Z_CUT, (-L - 1.0 - m) / sigma)
        hi = min(Z_CUT, (L + 1.0 - m) / sigma)
        if lo > hi:
            return 0.0
        acc = 0.0
        for j in range(math.ceil(lo / 0.5), math.floor(hi / 0.5) + 1):
            z = j * 0.5
            acc += math.exp(-0.5 * z * z) * _local(kind, m + sigma * z)
        return acc * 0.5 * _INV_SQRT_2PI
    return lattice_conditional(table[kind], SPAN, H, m, sigma)


@numba.njit(cache=True)
def lattice_conditional(row: Array, span: int, step: float, m: float, sigma: float) -> float:
    """E[f(m + σZ)] for a localised f tabulated on the lattice x_k = k·step, |k| ≤ span
    (row[k + span]; f = 0 beyond), σ > 0: the trapezoidal rule on the lattice, the Gaussian
    weights by the recurrence w_{k±1} = w_k·r±, r± ← r±·e^{−step²/σ²} from the lattice
    point nearest m (no exponential per node)."""
    centre = min(max(round(m / step), -span), span)
    lo = max(-span, math.ceil((m - Z_CUT * sigma) / step))
    hi = min(span, math.floor((m + Z_CUT * sigma) / step))
    if lo > hi:
        return 0.0
    inv = 0.5 / (sigma * sigma)
    t = centre * step - m
    first = math.exp(-t * t * inv)
    shrink = math.exp(-2.0 * step * step * inv)
    acc = first * row[centre + span] if lo <= centre <= hi else 0.0
    weight = first
    ratio = math.exp(-(2.0 * t * step + step * step) * inv)
    for k in range(centre + 1, hi + 1):
        weight *= ratio
        ratio *= shrink
        if k >= lo:
            acc += weight * row[k + span]
    weight = first
    ratio = math.exp((2.0 * t * step - step * step) * inv)
    for k in range(centre - 1, lo - 1, -1):
        weight *= ratio
        ratio *= shrink
        if k <= hi:
            acc += weight * row[k + span]
    return acc * step * _INV_SQRT_2PI / sigma


@numba.njit(cache=True)
def _product(kind: int, q1: float, a: float, sigma: float, table: Array) -> float:
    """E[f(u) f(v)] for localised f: ∫ p_{q1}(x) f(x) E[f(ax + σZ)] dx."""
    root = math.sqrt(q1)
    step = min(H, 0.5 * root)
    count = math.ceil(min(L + 1.0, Z_CUT * root) / step)
    acc = 0.0
    for j in range(-count, count + 1):
        x = j * step
        fx = _local(kind, x)
        if fx != 0.0:
            acc += math.exp(-0.5 * x * x / q1) * fx * _conditional(kind, a * x, sigma, table)
    return acc * step * _INV_SQRT_2PI / root


@numba.njit(cache=True)
def _cross(q: float, a: float, sigma: float) -> float:
    """E[r(u) erf(κv)], u ~ N(0, q), v | u = x ~ N(ax, σ²)."""
    root = math.sqrt(q)
    step = min(H, 0.5 * root)
    count = math.ceil(min(L + 1.0, Z_CUT * root) / step)
    scale = KAPPA * a / math.sqrt(1.0 + 2.0 * KAPPA * KAPPA * sigma * sigma)
    acc = 0.0
    for j in range(-count, count + 1):
        x = j * step
        acc += math.exp(-0.5 * x * x / q) * _rest(x) * math.erf(scale * x)
    return acc * step * _INV_SQRT_2PI / root


@numba.njit(cache=True)
def _tanh_value(q1: float, q2: float, c: float, s: float, table: Array) -> float:
    """E[tanh u tanh v] (q1 ≥ q2)."""
    k2 = 2.0 * KAPPA * KAPPA
    arg = k2 * c * math.sqrt(q1 * q2) / math.sqrt((1.0 + k2 * q1) * (1.0 + k2 * q2))
    closed = 2.0 / math.pi * math.asin(max(-1.0, min(1.0, arg)))
    a = c * math.sqrt(q2 / q1)
    sigma = math.sqrt(q2) * s
    back = c * math.sqrt(q1 / q2)  # u | v = y ~ N(back·y, q1 s²)
    return (
        closed
        + _cross(q1, a, sigma)
        + _cross(q2, back, math.sqrt(q1) * s)
        + _product(0, q1, a, sigma, table)
    )


@numba.njit(cache=True, inline="always")
def near_frame(
    q1: float, q2: float, c: float, s: float, delta: float, support: float, step: float
) -> tuple[float, float, float, int, float, int, float]:
    """The 2-D rules near c = 1 (q1 ≥ q2; s = √(δ(2 − δ))): (a, σ, 1 − a, x count, Z step,
    Z count, Z weight) with v | u = x ~ N(ax, σ²), u − v = (1 − a)x − σZ and 1 − a formed
    from δ; x on k·step as far as u or v can reach the functions' support; Z with step
    min(½, step/σ) on |Z| ≤ 13 weighted step·φ(Z)/e^{−Z²/2}, or one node of weight 1 at σ = 0."""
    r1 = math.sqrt(q1)
    r2 = math.sqrt(q2)
    a = c * r2 / r1
    sigma = r2 * s
    slope = ((q1 - q2) / (r1 + r2) + delta * r2) / r1
    reach = max(support, (support + Z_CUT * sigma) / max(a, 1e-3)) + 1.0
    count = math.ceil(min(reach, Z_CUT * r1) / step)
    if sigma == 0.0:
        return a, sigma, slope, count, 0.5, 0, 1.0
    hz = min(0.5, step / sigma)
    return a, sigma, slope, count, hz, math.floor(Z_CUT / hz), hz * _INV_SQRT_2PI


@numba.njit(cache=True)
def _squared(
    derivative: bool, q1: float, q2: float, c: float, s: float, delta: float, mu: float
) -> tuple[float, float]:
    """(E[Δ²], E[Δ·f(v)]) for f = tanh or sech², Δ = f(u) − f(v), formed from δ."""
    a, sigma, slope, count, hz, nz, z_weight = near_frame(q1, q2, c, s, delta, L, H)
    square = 0.0
    mixed = 0.0
    for j in range(-count, count + 1):
        x = j * H
        inner_square = 0.0
        inner_mixed = 0.0
        for k in range(-nz, nz + 1):
            z = k * hz
            v = a * x + sigma * z
            gap = slope * x - sigma * z  # u − v
            diff = math.sinh(gap) / (math.cosh(x) * math.cosh(v))
            if derivative:
                diff = -diff * (math.tanh(x) + math.tanh(v))
                fv = _sech2(v)
            else:
                fv = math.tanh(v)
            weight = math.exp(-0.5 * z * z)
            inner_square += weight * diff * diff
            inner_mixed += weight * diff * fv
        gx = math.exp(-0.5 * x * x / q1)
        square += gx * inner_square
        mixed += gx * inner_mixed
    norm = H * z_weight * _INV_SQRT_2PI / math.sqrt(q1)
    return square * norm, mixed * norm


@numba.njit(parallel=True, cache=True)
def tanh_pairs(
    derivative: bool,
    q1: Array,
    q2: Array,
    delta: Array,
    n1: Array,
    n2: Array,
    want_deficit: bool,
) -> tuple[Array, Array]:
    """(E[f(u)f(v)], √(N1N2) − E[f(u)f(v)]) for f = tanh (N = V) or sech² (N = W), per
    entry of flat arrays; n1, n2 are V or W at q1, q2 (max(q1, q2) ≥ 1)."""
    size = q1.size
    value = np.empty(size)
    deficit = np.empty(size)
    table = _lattice()
    for p in numba.prange(size):
        qa, qb, na, nb = q1[p], q2[p], n1[p], n2[p]
        if qb > qa:
            qa, qb, na, nb = qb, qa, nb, na
        d = min(max(delta[p], 0.0), 2.0)
        c = 1.0 - d
        s = math.sqrt(d * (2.0 - d))
        sigma = math.sqrt(qb) * s
        if qb <= 1e-300:  # v ≡ 0: tanh v = 0, sech² v = 1
            val = _gauss(qa, 1, 1) if derivative else 0.0
        elif derivative:
            val = _product(1, qa, c * math.sqrt(qb / qa), sigma, table)
        else:
            val = _tanh_value(qa, qb, c, s, table)
        value[p] = val
        if not want_deficit:
            deficit[p] = 0.0
        elif sigma >= 1.0 or d >= 0.5 or qa > 2.0 * qb or qb <= 1e-300:
            deficit[p] = max(math.sqrt(na * nb) - val, 0.0)
        else:
            ra, rb = math.sqrt(na), math.sqrt(nb)
            mu = (nb - na) / (ra * rb * (ra + rb))
            square, mixed = _squared(derivative, qa, qb, c, s, d, mu)
            total = square / na + 2.0 * mu * mixed / ra + mu * mu * nb
            deficit[p] = max(0.5 * ra * rb * total, 0.0)
    return value, deficit


@numba.njit(parallel=True, cache=True)
def tanh_moments(q: Array) -> tuple[Array, Array, Array]:
    """(V, W, dV/dq) of tanh at each q > 0 (V = 0, W = 1, dV/dq = 1 at q = 0)."""
    v = np.empty(q.size)
    w = np.empty(q.size)
    dv = np.empty(q.size)
    for p in numba.prange(q.size):
        if q[p] <= 1e-300:
            v[p], w[p], dv[p] = q[p], 1.0, 1.0
            continue
        mean = _gauss(q[p], 1, 1)
        # E[tanh²] directly where the Gaussian lies within |x| ≤ L + 1 (V ≈ q is small)
        v[p] = _gauss(q[p], 3, 1) if Z_CUT * math.sqrt(q[p]) <= L + 1.0 else 1.0 - mean
        w[p] = _gauss(q[p], 1, 2)
        # E[φ'² + φφ''] = E[(φφ')'(u)] = E[u φ(u) φ'(u)]/q (by parts: no cancellation)
        dv[p] = _gauss(q[p], 4, 1) / q[p]
    return v, w, dv


@numba.njit(parallel=True, cache=True)
def tanh_slopes(q1: Array, q2: Array) -> tuple[Array, Array]:
    """√(q1q2)·E[φ'(u)φ'(v)] and √(q1q2)·E[φ''(u)φ''(v)] at c = 1."""
    a = np.empty(q1.size)
    b = np.empty(q1.size)
    table = _lattice()
    for p in numba.prange(q1.size):
        qa, qb = max(q1[p], q2[p]), min(q1[p], q2[p])
        ratio = math.sqrt(qb / qa)
        root = math.sqrt(qa * qb)
        a[p] = root * _product(1, qa, ratio, 0.0, table)
        b[p] = root * _product(2, qa, ratio, 0.0, table)
    return a, b


class TanhLarge:
    """tanh's expectations by the rules above (numpy in, numpy out; flat or any shape)."""

    #: variances above which this rule is used (the Mehler series of tanh' needs K ≈ 170 q,
    #: and at most 3072 terms are used)
    threshold = 16.0

    def moments(self, q: Array) -> tuple[Array, Array, Array]:
        """(V, W, dV/dq) at q > 0."""
        flat = np.ascontiguousarray(q, dtype=np.float64).ravel()
        v, w, dv = tanh_moments(flat)
        return v.reshape(q.shape), w.reshape(q.shape), dv.reshape(q.shape)

    def pairs(
        self, derivative: bool, q1: Array, q2: Array, delta: Array, want_deficit: bool
    ) -> tuple[Array, Array]:
        """(E[f(u)f(v)], deficit) for f = φ or φ' over equal-shape arrays."""
        unique, inverse = np.unique(np.concatenate([q1.ravel(), q2.ravel()]), return_inverse=True)
        v, w, _ = tanh_moments(unique)
        norms = (w if derivative else v)[inverse]
        value, deficit = tanh_pairs(
            derivative,
            np.ascontiguousarray(q1.ravel()),
            np.ascontiguousarray(q2.ravel()),
            np.ascontiguousarray(delta.ravel()),
            norms[: q1.size],
            norms[q1.size :],
            want_deficit,
        )
        return value.reshape(q1.shape), deficit.reshape(q1.shape)

    def slopes(self, q1: Array, q2: Array) -> tuple[Array, Array]:
        a, b = tanh_slopes(np.ascontiguousarray(q1.ravel()), np.ascontiguousarray(q2.ravel()))
        return a.reshape(q1.shape), b.reshape(q1.shape)


class SigmoidLarge(TanhLarge):
    """sigmoid(x) = ½ + ½ tanh(x/2): tanh's rule at q/4, with

    V = (1 + V_t)/4, W = W_t/16, dV/dq = V_t'/16, E[σσ] = (1 + E_t)/4, E[σ'σ'] = E'_t/16,
    √(V1V2) − E[σσ] = ¼[D_t + (√V_t1 − √V_t2)² / (√((1 + V_t1)(1 + V_t2)) + 1 + √(V_t1V_t2))],
    √(W1W2) − E[σ'σ'] = D'_t/16, slopes a = a_t/4, b = b_t/16 (all at q/4).
    """

    threshold = 4 * TanhLarge.threshold

    def moments(self, q: Array) -> tuple[Array, Array, Array]:
        v, w, dv = super().moments(q / 4)
        return 0.25 * (1.0 + v), w / 16, dv / 16

    def pairs(
        self, derivative: bool, q1: Array, q2: Array, delta: Array, want_deficit: bool
    ) -> tuple[Array, Array]:
        value, deficit = super().pairs(derivative, q1 / 4, q2 / 4, delta, want_deficit)
        if derivative:
            return value / 16, deficit / 16
        v1, v2 = super().moments(q1 / 4)[0], super().moments(q2 / 4)[0]
        gap = np.sqrt(v1) - np.sqrt(v2)
        bias = gap * gap / (np.sqrt((1 + v1) * (1 + v2)) + 1 + np.sqrt(v1 * v2))
        return 0.25 * (1.0 + value), (0.25 * (deficit + bias) if want_deficit else deficit)

    def slopes(self, q1: Array, q2: Array) -> tuple[Array, Array]:
        a, b = super().slopes(q1 / 4, q2 / 4)
        return a / 4, b / 16
