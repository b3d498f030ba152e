"""One exact layer for a row of entries at once, in SIMD lanes (compiled entry loop).

:func:`core.entry_loop._step` advances one entry by one layer with branches (linear regime,
exponents, erf's norm-mismatch rules) and one division or square root after another:
scalar code that runs at the speed of the divider. In the layers where few entries take
those branches — at plain scales; for erf, most pairs' variances within 2⁻⁴ relative —
:func:`erf_lanes` and :func:`abrelu_lanes` (relu, leaky relu, abs) compute the same
formulas, in the same order, for the entries (a, b₀ + j) of one row as loops over j
without branches (selects), which the compiler turns into vector instructions: the
results are bit-for-bit those of ``_step`` (tests/core/test_lanes.py). Lanes where a
branch would be taken are flagged and left to ``_step``.

The column points' table rows and mismatch fields are read from transposed copies
(``[field, point]``) as contiguous slices, so that consecutive lanes read consecutive
memory (a strided view would compile to scalar code).
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np
from numpy.typing import NDArray

from core.activations.base import Array, sin_minus_theta_cos_at
from core.activations.closed_forms import erf_angle
from core.arctangent import deficit_angle
from core.entry_fields import (
    F_IP,
    F_Q,
    F_R2,
    F_R4,
    F_RG,
    F_RTH,
    F_SD,
    F_SP,
    F_SR,
    F_SRHO,
    F_ST,
    F_SV,
    F_SVB,
)
from core.erf_mismatch import (
    M_COEF,
    M_LIMIT,
    M_SQRT_A,
    SERIES_BELOW,
    artanh_series,
    one_minus_exp_series,
)

Integers = NDArray[np.integer[Any]]

#: rows of erf_lanes' work space
WORK_ROWS = 5
TWO_PI = 2.0 * math.pi


@numba.njit(inline="always")  # compiled into its callers (no cache entry of its own)
def _shared(
    ra: Array,
    rg: float,
    sv: float,
    svb: float,
    sd: float,
    rth: float,
    sp: float,
    sr: float,
    st: float,
    es: float,
    et: float,
    beta: float,
    smallest_nonlinear: float,
) -> tuple[float, float, float, float, float, float, bool]:
    """The parts of ``_step`` every activation shares, for point a's row ``ra`` and b's
    fields, at exponent 0 and Σ, Θ shifts 0: (√(Σ_aaΣ_bb), Σ's bias gap, Θ's norm mismatch,
    √(Θ_aaΘ_bb) − E_Θ, √(Σ̇_aaΣ̇_bb), the cosine deficit d, whether d is in the linear
    regime)."""
    root = ra[F_RG] * rg
    diff = ra[F_SV] - sv
    gap_den = ra[F_SVB] * svb + ra[F_SV] * sv + beta
    gap = beta * diff * diff / (gap_den if gap_den > 0.0 else 1.0)
    cross = ra[F_SP] * sr - sp * ra[F_SR]
    spread = ra[F_ST] * st + ra[F_SP] * sp + ra[F_SR] * sr
    mismatch = cross * cross / (spread if spread > 0.0 else 1.0)
    theta_ab = ra[F_RTH] * rth - et
    dot_root = ra[F_SD] * sd
    scaled = es / (root if root > 0.0 else 1.0)
    scaled = scaled if root > 0.0 else 0.0
    linear = 0.0 < scaled < smallest_nonlinear
    return root, gap, mismatch, theta_ab, dot_root, min(max(scaled, 0.0), 2.0), linear


@numba.njit(cache=True, error_model="numpy")
def erf_lanes(
    w2: float,
    beta: float,
    smallest_nonlinear: float,
    ra: Array,
    lane_rows: Array,
    coef_a: Array,
    lane_mism: Array,
    first: int,
    base: int,
    terms: int,
    es: Array,
    et: Array,
    es_new: Array,
    et_new: Array,
    flag: Integers,
    work: Array,
) -> None:
    """(E_Σ, E_Θ) of the next layer for the entries (a, b_j), b_j = ``first`` + j: ``ra``
    [FIELDS] point a's table row, ``lane_rows`` [FIELDS, points] all points' rows
    (transposed), ``coef_a`` [M_COEF + terms] a's mismatch fields and ``lane_mism``[base +
    i, b] the points' (transposed; ``terms`` even), ``es``, ``et`` the entries' deficits (at
    exponent 0, in a layer whose Σ and Θ shifts are 0) into ``es_new``, ``et_new``. ``flag[j]``
    is set where ``_step`` would branch away (linear regime, w ≥ SERIES_BELOW, k past the
    series' limit, x ≥ SERIES_BELOW, a zero variance): those lanes' results are
    not ``_step``'s. ``work``: [WORK_ROWS, ≥ lanes]."""
    count = es.size
    last = first + count
    # (contiguous 1-D slices: the loops below then vectorize)
    k_, z_, odd_, even_, w_ = work[0], work[1], work[2], work[3], work[4]
    q1 = ra[F_Q]
    q2s = lane_rows[F_Q, first:last]
    for j in range(count):  # k = ½|ln(ρ1/ρ2)| (core.erf_mismatch.half_log_ratio, series)
        q2 = q2s[j]
        w = abs(q1 - q2) / (q1 + q2 + 4.0 * q1 * q2)
        k = artanh_series(w)
        w_[j], k_[j], z_[j] = w, k, k * k
        odd_[j], even_[j] = 0.0, 0.0
    for i in range(M_COEF + terms - 2, M_COEF - 1, -2):  # core.erf_mismatch.series_mismatch
        a_odd, a_even = coef_a[i + 1], coef_a[i]
        b_odd, b_even = lane_mism[base + i + 1, first:last], lane_mism[base + i, first:last]
        for j in range(count):  # (a − b) here: (lo − hi) up to the sign applied below
            odd_[j] = odd_[j] * z_[j] + (a_odd - b_odd[j])
            even_[j] = even_[j] * z_[j] + (a_even + b_even[j])
    rg, sv = lane_rows[F_RG, first:last], lane_rows[F_SV, first:last]
    svb, sd = lane_rows[F_SVB, first:last], lane_rows[F_SD, first:last]
    rth, sp = lane_rows[F_RTH, first:last], lane_rows[F_SP, first:last]
    sr, st = lane_rows[F_SR, first:last], lane_rows[F_ST, first:last]
    ip, srho = lane_rows[F_IP, first:last], lane_rows[F_SRHO, first:last]
    r2, r4 = lane_rows[F_R2, first:last], lane_rows[F_R4, first:last]
    root_a, limit_a = coef_a[M_SQRT_A], coef_a[M_LIMIT]
    root_b = lane_mism[base + M_SQRT_A, first:last]
    limit_b = lane_mism[base + M_LIMIT, first:last]
    for j in range(count):
        q2 = q2s[j]
        _, gap, mismatch_t, theta_ab, dot_root, d, linear = _shared(
            ra, rg[j], sv[j], svb[j], sd[j], rth[j], sp[j], sr[j], st[j], es[j], et[j], beta,
            smallest_nonlinear,
        )  # fmt: skip
        # core.entry_loop._erf_deficits
        s = ra[F_SRHO] * srho[j]
        d0 = 1.0 + 2.0 * q1 + 2.0 * q2
        one_minus_s2 = d0 * ra[F_IP] * ip[j]
        # erf_deficit_from(q1, q1, …): the angular part plus its zero mismatch term
        value = (2.0 / math.pi) * (erf_angle(s, one_minus_s2, d) + 0.0)
        a_low = q1 <= q2  # a is the point of smaller variance ("lo")
        k, odd = k_[j], odd_[j]  # (loads outside the selects: no conditional loads)
        x = (even_[j] + (odd if a_low else -odd) * k) * z_[j]
        spread = one_minus_exp_series(x)
        mismatch = root_a * root_b[j] * spread
        unequal = q1 != q2
        value += (2.0 / math.pi) * mismatch
        radicand = ra[F_R2] * r2[j]
        xd = 4.0 * q1 * q2 * d * (2.0 - d)
        det = d0 + xd
        gap_d = xd + 4.0 * (q1 - q2) ** 2 / (d0 + radicand)
        root_d = math.sqrt(det)
        root_w = ra[F_R4] * r4[j]
        derivative = (4.0 / math.pi) * gap_d / (root_w * root_d * (root_d + root_w))
        # core.entry_loop._step, fs = ft = 0
        e_sigma = w2 * value + gap
        total = e_sigma + dot_root * et[j] + theta_ab * w2 * derivative + mismatch_t
        es_new[j] = e_sigma
        et_new[j] = max(total, 0.0)
        limit_j = limit_b[j]
        limit = limit_j if a_low else limit_a
        away = linear or (
            unequal and (w_[j] >= SERIES_BELOW or not s > 0.0 or k > limit or not x < SERIES_BELOW)
        )
        flag[j] = 1 if away else 0


@numba.njit(cache=True, error_model="numpy")
def abrelu_lanes(
    w2: float,
    beta: float,
    smallest_nonlinear: float,
    square_sum: float,
    jump: float,
    ra: Array,
    lane_rows: Array,
    first: int,
    es: Array,
    et: Array,
    es_new: Array,
    et_new: Array,
    flag: Integers,
) -> None:
    """As :func:`erf_lanes`, for φ = a·relu(x) − b·relu(−x) (``square_sum`` = a² + b²,
    ``jump`` = (a − b)²; core.entry_loop._deficits' ABRelu forms); ``flag[j]`` is set
    where d is in the linear regime."""
    count = es.size
    last = first + count
    rg, sv = lane_rows[F_RG, first:last], lane_rows[F_SV, first:last]
    svb, sd = lane_rows[F_SVB, first:last], lane_rows[F_SD, first:last]
    rth, sp = lane_rows[F_RTH, first:last], lane_rows[F_SP, first:last]
    sr, st = lane_rows[F_SR, first:last], lane_rows[F_ST, first:last]
    for j in range(count):
        root, gap, mismatch_t, theta_ab, dot_root, d, linear = _shared(
            ra, rg[j], sv[j], svb[j], sd[j], rth[j], sp[j], sr[j], st[j], es[j], et[j], beta,
            smallest_nonlinear,
        )  # fmt: skip
        theta = deficit_angle(d)
        spread = square_sum * math.pi * d - jump * sin_minus_theta_cos_at(theta, d)
        value = root / TWO_PI * max(spread, 0.0)
        derivative = jump * theta / TWO_PI
        e_sigma = w2 * value + gap
        total = e_sigma + dot_root * et[j] + theta_ab * w2 * derivative + mismatch_t
        es_new[j] = e_sigma
        et_new[j] = max(total, 0.0)
        flag[j] = 1 if linear else 0
