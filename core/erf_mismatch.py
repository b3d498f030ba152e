"""erf's norm-mismatch term from per-point Taylor coefficients (compiled entry loop).

The norm-mismatch part of erf's correlation deficit (:mod:`core.activations.closed_forms`)
is √(A1A2) − arcsin s = √(A1A2)·(1 − e^{−X}) with ρ_i = 2q_i/(1 + 2q_i), A_i = arcsin ρ_i,
s = √(ρ1ρ2), G(x) = ln arcsin(eˣ), x_i = ln ρ_i = x̄ ± k and

    X = ½(G(x1) + G(x2)) − G(x̄) = ½∫₀ᵏ (k − t)(G''(x̄ + t) + G''(x̄ − t)) dt.

Expanding G'' about each end (x_hi = x̄ + k, x_lo = x̄ − k), G''(x_e + u) = Σ_i g_i^e uⁱ, gives

    X = k² Σ_i (p_i^lo + (−1)ⁱ p_i^hi) kⁱ,      p_i = g_i / (2(i + 2)),

a sum of per-point coefficients: per pair only k (:func:`half_log_ratio`, one division)
and a polynomial remain, against a 1–5 node Gauss rule on G'' there. The series converges for
k < min(|x_hi|, 1) (G is singular at x = 0, and the e^{2mx} terms of its series grow like
(2m)ⁱ); its truncation error after n terms is about (2k/min(|x_hi|, 1))ⁿ. RULES lists the
term counts and the largest ratio k/min(|x_hi|, 1) each is used for: at most 1.0e-15
relative against mpmath for q in [1e-4, 1e5] (tests/core/test_erf_mismatch_series.py;
above SERIES_MAX_Q = 1e5 a point's pairs take closed_forms' rule;
the polynomial is evaluated as two Horner chains in k², even and odd terms).
:mod:`core.entry_loop` picks per layer the fewest terms that cover every pair of that
layer's variances (up to MAX_TERMS); a pair beyond its rule's ratio uses closed_forms' rule.

The coefficients g_i: for ρ < ½ from ln(arcsin y / y) = Σ_m l_m y^{2m} (all l_m > 0), so
G''(x + u) = Σ_m l_m (2m)² ρ^{2m} e^{2mu} is a sum of positive terms; for ρ ≥ ½ by power
series arithmetic on A(u) = arcsin(ρeᵘ) (A' = y/√(1 − y²)) and G' = A'/A (G' is not ≈ 1
there, so no leading term cancels).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from core.activations.base import Array

#: (Taylor terms of G'' kept, largest k/min(|x_hi|, 1) they are used for), by ratio
RULES = np.array(
    [
        (4, 5e-5),
        (6, 1.5e-3),
        (8, 0.01),
        (10, 0.02),
        (12, 0.05),
        (16, 0.1),
        (20, 0.15),
        (24, 0.2),
        (32, 0.3),
        (40, 0.4),
    ]
)
#: the most terms of any rule
MAX_TERMS = 40
#: the series is used for variances up to this (its coefficients grow like |ln ρ|^-(i+2),
#: ln ρ ≈ −1/(2q): past ~1e8 they overflow); pairs whose larger q is above it take
#: closed_forms' rule (the point's limit field is then −1)
SERIES_MAX_Q = 1e5
#: per-point fields (one layer): √A, the limit ratio·min(|x|, 1) on k, then p_0 … p_{n−1}
(M_SQRT_A, M_LIMIT, M_COEF) = (0, 1, 2)
#: rows of point_fields' scratch space
WORK_ROWS = 6
#: terms of the series of ln(arcsin y / y) in z = y² (used for z < ¼)
_Z_TERMS = 64
#: ρ below which the z-series is used
_Z_BELOW = 0.5


def _log_arcsin_ratio_series() -> Array:
    """l_m of ln(arcsin y / y) = Σ_{m≥1} l_m y^{2m}: the log of Σ_m b_m z^m, b_m =
    C(2m, m)/(4^m (2m + 1)), by the recurrence l_n = b_n − (1/n) Σ_{k<n} k l_k b_{n−k}."""
    b = np.array([math.comb(2 * m, m) / 4.0**m / (2 * m + 1) for m in range(_Z_TERMS + 1)])
    out = np.zeros(_Z_TERMS + 1)
    for n in range(1, _Z_TERMS + 1):
        out[n] = b[n] - sum(k * out[k] * b[n - k] for k in range(1, n)) / n
    return out


_L_SERIES = _log_arcsin_ratio_series()
_INVERSE_FACTORIALS = np.array([1.0 / math.factorial(i) for i in range(MAX_TERMS + 2)])


@numba.njit(cache=True)
def _curvature_series_small(rho: float, terms: int, out: Array) -> None:
    """out[i] = g_i (Taylor coefficients of G'' at ln ρ, i < ``terms``) from the l_m
    series, ρ < ½."""
    z = rho * rho
    out[:terms] = 0.0
    power = 1.0
    for m in range(1, _Z_TERMS + 1):
        power *= z
        term = _L_SERIES[m] * power
        two_m = 2.0 * m
        weight = term * two_m * two_m
        for i in range(terms):
            out[i] += weight * _INVERSE_FACTORIALS[i]
            weight *= two_m


@numba.njit(cache=True)
def _curvature_series_large(rho: float, gap: float, terms: int, out: Array, work: Array) -> None:
    """out[i] = g_i (i < ``terms``) by series arithmetic in u (ρ ≥ ½); gap = 1 − ρ;
    ``work`` [WORK_ROWS, ≥ terms + 2]."""
    size = terms + 2
    y, c, r, slope, a, h = work[0], work[1], work[2], work[3], work[4], work[5]
    for j in range(size):
        y[j] = rho * _INVERSE_FACTORIALS[j]
        c[j] = -rho * rho * 2.0**j * _INVERSE_FACTORIALS[j]
    c[0] = gap * (1.0 + rho)  # 1 − ρ²
    r[0] = 1.0 / math.sqrt(c[0])
    for n in range(1, size):
        acc = 0.0
        for k in range(1, n + 1):
            acc += (0.5 * k - n) * c[k] * r[n - k]
        r[n] = acc / (n * c[0])
    for n in range(size):
        acc = 0.0
        for i in range(n + 1):
            acc += y[i] * r[n - i]
        slope[n] = acc
    a[0] = math.atan2(rho, math.sqrt(c[0]))
    for j in range(1, size):
        a[j] = slope[j - 1] / j
    for n in range(size):
        acc = slope[n]
        for k in range(1, n + 1):
            acc -= a[k] * h[n - k]
        h[n] = acc / a[0]
    for i in range(terms):  # g_i = (i + 2)(i + 1) G_{i+2}, G_j = h_{j−1}/j
        out[i] = (i + 1) * h[i + 1]


@numba.njit(cache=True)
def rule_for(ratio: float) -> int:
    """The row of RULES with the fewest terms whose ratio covers ``ratio`` (the last if
    none does)."""
    row = 0
    while row < RULES.shape[0] - 1 and ratio > RULES[row, 1]:
        row += 1
    return row


@numba.njit(cache=True)
def point_fields(q: float, row: int, out: Array, work: Array) -> None:
    """The per-point fields (module doc) of variance q > 0 for RULES[row] into ``out``
    [M_COEF + terms]; ``work``: scratch space [WORK_ROWS, MAX_TERMS + 2]."""
    terms = int(RULES[row, 0])
    if q > SERIES_MAX_Q:
        out[: M_COEF + terms] = 0.0
        out[M_LIMIT] = -1.0
        return
    p = 1.0 + 2.0 * q
    rho = 2.0 * q / p
    gap = 1.0 / p
    coef = out[M_COEF : M_COEF + terms]
    if rho < _Z_BELOW:
        _curvature_series_small(rho, terms, coef)
    else:
        _curvature_series_large(rho, gap, terms, coef, work)
    for i in range(terms):
        coef[i] /= 2.0 * (i + 2)
    out[M_SQRT_A] = math.sqrt(math.atan2(rho, math.sqrt(gap * (1.0 + rho))))
    out[M_LIMIT] = RULES[row, 1] * min(-math.log(rho), 1.0)


#: artanh and 1 − e^{−x} by their series below this argument (shared with core.lanes)
SERIES_BELOW = 2.0**-4


@numba.njit(inline="always")  # compiled into its callers (no cache entry of its own)
def artanh_series(w: float) -> float:
    """artanh w for 0 ≤ w < SERIES_BELOW: Σ_{m≤7} w^{2m+1}/(2m + 1) by Horner's rule in w²,
    the first term left out below 2⁻⁶⁴·w."""
    v = w * w
    acc = 1.0 / 13.0 + v * (1.0 / 15.0)
    acc = 1.0 / 11.0 + v * acc
    acc = 1.0 / 9.0 + v * acc
    acc = 1.0 / 7.0 + v * acc
    acc = 1.0 / 5.0 + v * acc
    acc = 1.0 / 3.0 + v * acc
    return w * (1.0 + v * acc)


@numba.njit(inline="always")  # compiled into its callers (no cache entry of its own)
def one_minus_exp_series(x: float) -> float:
    """1 − e^{−x} for 0 ≤ x < SERIES_BELOW: Σ_{n≤9} (−1)^{n+1} xⁿ/n! by Horner's rule, the
    first term left out below 5e-18·x."""
    acc = 1.0 / 40320.0 - x * (1.0 / 362880.0)
    acc = 1.0 / 5040.0 - x * acc
    acc = 1.0 / 720.0 - x * acc
    acc = 1.0 / 120.0 - x * acc
    acc = 1.0 / 24.0 - x * acc
    acc = 1.0 / 6.0 - x * acc
    acc = 1.0 / 2.0 - x * acc
    return x * (1.0 - x * acc)


@numba.njit(inline="always")  # compiled into its callers (no cache entry of its own)
def series_mismatch(fields: Array, lo: int, hi: int, base: int, terms: int, k: float) -> float:
    """√(A1A2) − arcsin s from the two points' fields fields[lo, base:], fields[hi, base:]
    (``lo``: the smaller q; ``terms`` coefficients each) and k = ½|ln(ρ1/ρ2)| ≤ the limit
    fields[hi, base + M_LIMIT]."""
    z = k * k
    even, odd = 0.0, 0.0  # two independent Horner chains in k² (terms is even)
    for i in range(base + M_COEF + terms - 2, base + M_COEF - 1, -2):
        odd = odd * z + (fields[lo, i + 1] - fields[hi, i + 1])
        even = even * z + (fields[lo, i] + fields[hi, i])
    x = (even + odd * k) * z
    spread = one_minus_exp_series(x) if x < SERIES_BELOW else -math.expm1(-x)
    return fields[lo, base + M_SQRT_A] * fields[hi, base + M_SQRT_A] * spread


@numba.njit(inline="always")  # compiled into its callers (no cache entry of its own)
def half_log_ratio(q1: float, q2: float) -> float:
    """k = ½|ln(ρ1/ρ2)| = artanh|w|, w = (ρ1 − ρ2)/(ρ1 + ρ2) = (q1 − q2)/(q1 + q2 + 4q1q2)
    (one division; by artanh's series while |w| < SERIES_BELOW)."""
    w = abs(q1 - q2) / (q1 + q2 + 4.0 * q1 * q2)
    return artanh_series(w) if w < SERIES_BELOW else math.atanh(w)
