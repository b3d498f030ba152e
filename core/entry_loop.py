"""The per-entry recursion, entry-major and compiled (numba), for relu-like and erf networks.

:mod:`core.kernels` defines the recursion layer by layer over whole n1 × n2 arrays; for
the activations with scalar closed forms here (``ABRelu``: relu, leaky relu, abs; erf)
the same recursion runs entry by entry instead:

1. the diagonals of every layer (Σ_aa, Θ_aa, their power-of-two scales, the snapping of
   :func:`core.deficits.snapped`) depend on no off-diagonal entry: they are computed first,
   O((n1 + n2)·L), and each point's per-layer quantities (√Σ_aa, √V_a, √Σ̇_aa, √Θ_aa, …)
   packed contiguously;
2. each pair (a, b) then runs all its layers in one ``prange`` loop over TILE × TILE
   blocks, a row's entries of a block (up to LANES) advanced together layer by layer,
   writing out only the requested depths. With x2 absent only a ≤ b is computed and
   mirrored (the result is exactly symmetric). Layers at plain scales (for erf: where
   most pairs' variances are close) run those entries in SIMD lanes (:mod:`core.lanes`,
   bit-for-bit the same); past the snap of the diagonals, erf's layers are read from
   :mod:`core.settled_tail`'s tables.

Each entry carries its own deficit exponent (E = m·2^x), so no entry is flushed to zero by
another entry's scale. The algebra is that of :func:`core.kernels.next_layer`: while the
entry's Σ cosine deficit δ = E_Σ/√(Σ_aaΣ_bb) ≥ 2^LINEAR_BELOW the activation's deficit
forms are evaluated at δ; below it their leading terms a·δ and b·δ^p (``small_deficit_
slopes``) are used, plus the norm-mismatch parts at δ = 0 (zero for equal diagonals), each
part at its own exponent. The scalar deficit forms below are those of
:mod:`core.activations.closed_forms` (same formulas, same branches), as numba functions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numba
import numpy as np
from numpy.typing import NDArray

from core.activations import Activation
from core.activations.base import Array, sin_minus_theta_cos_at
from core.activations.closed_forms import ABRelu, Erf, _erf_norm_mismatch, erf_deficit_from
from core.arctangent import deficit_angle
from core.asymptotes import SMALL_VARIANCE
from core.deficits import DIAGONAL_LIMIT, LOG10_2, SNAP_RTOL, DeviationPart, LayerState
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
    FIELDS,
)
from core.erf_mismatch import (
    M_COEF,
    M_LIMIT,
    MAX_TERMS,
    RULES,
    SERIES_BELOW,
    SERIES_MAX_Q,
    WORK_ROWS,
    half_log_ratio,
    point_fields,
    rule_for,
    series_mismatch,
)
from core.lanes import TWO_PI, abrelu_lanes, erf_lanes
from core.lanes import WORK_ROWS as LANE_WORK_ROWS
from core.network import Network

Integers = NDArray[np.integer[Any]]

Progress = Callable[[float], None] | None

#: activation kinds of the compiled loop
KIND_ABRELU, KIND_ERF = 0, 1
#: deficits whose cosine deficit is below 2^LINEAR_BELOW use their leading terms
LINEAR_BELOW = -500
SMALLEST_NONLINEAR = 2.0 ** (LINEAR_BELOW - 1)
#: functions of the settled tail (core.settled_tail): F_Σ, ΔA, ΔB
TAIL_FUNCTIONS = 3
#: the settled tail is used from this many pairs and layers after the snap on
TAIL_MIN_PAIRS = 4096
TAIL_MIN_LAYERS = 8
#: slope_x[slot, 0, 0] of a slot whose scales are plain floats (see _fast_tail_slots)
FAST_SLOT = -(2**40)
#: tail entries with δ and e at least this are formed in plain floats in such slots
FAST_SMALLEST = 2.0**-200
#: scales within 2^±FAST_EXPONENT are made plain floats
FAST_EXPONENT = 200
#: the entry loop is used while (n1 + n2)·depth stays below this (the packed table's size)
MAX_POINT_LAYERS = 2**18
#: side of the square blocks the pair loops run in
TILE = 64
#: entries of a row advanced together through the layers (independent dependency chains;
#: core.lanes' vector loops need a few times the vector width)
LANES = 64


def entry_kind(activation: Activation) -> tuple[int, float, float] | None:
    """(kind, a² + b², (a − b)²) for the activations of the compiled loop, else None."""
    if type(activation) is ABRelu:
        a, b = activation.a, activation.b
        return KIND_ABRELU, a * a + b * b, (a - b) ** 2
    if type(activation) is Erf:
        return KIND_ERF, 0.0, 0.0
    return None


def supported(network: Network, points: int, depth: int, largest: float) -> bool:
    """True when :func:`entry_states` handles this network and problem size (``largest``:
    the largest first-layer variance). Not for erf layers that would run on erf's linear
    limit (:mod:`core.asymptotes`: every variance below SMALL_VARIANCE, as in the ordered phase
    with σ_b² = 0), which only the numpy layers switch to."""
    found = entry_kind(network.activation)
    if found is None or points * depth > MAX_POINT_LAYERS:
        return False
    return found[0] != KIND_ERF or not _falls_below(
        network.sigma_w2, network.sigma_b2, largest, depth, SMALL_VARIANCE
    )


@numba.njit(cache=True)
def _falls_below(w2: float, b2: float, q: float, depth: int, threshold: float) -> bool:
    """Whether erf's variance map q ↦ w2·V(q) + b2 from q reaches below ``threshold``
    within ``depth`` layers (V increases: the largest variance stays the largest)."""
    for _ in range(depth):
        if q < threshold:
            return True
        following = w2 * _variances(KIND_ERF, 0.0, q)[0] + b2
        if following == q:
            return False
        q = following
    return False


# --- scalar closed forms --------------------------------------------------------------


@numba.njit(cache=True, inline="always")
def _erf_deficits(
    ra: Array, rb: Array, mism: Array, pa: int, pb: int, base: int, terms: int, d: float
) -> tuple[float, float]:
    """(√(V1V2) − E[erf(u) erf(v)], √(W1W2) − E[erf'(u) erf'(v)]) at cosine deficit d,
    from the points' table rows (the formulas of closed_forms._erf_deficit and
    _erf_derivative_deficit, with the per-point factors precomputed) and, for unequal
    variances, their mismatch fields mism[pa, base:], mism[pb, base:] (``terms``
    coefficients; the norm-mismatch part by :func:`core.erf_mismatch.series_mismatch`
    where it applies, else by closed_forms' rule)."""
    q1, q2 = ra[F_Q], rb[F_Q]
    s = ra[F_SRHO] * rb[F_SRHO]
    d0 = 1.0 + 2.0 * q1 + 2.0 * q2
    one_minus_s2 = d0 * ra[F_IP] * rb[F_IP]
    value = erf_deficit_from(q1, q1, s, one_minus_s2, d)  # equal q: the angular part alone
    if q1 != q2 and s > 0.0:
        k = half_log_ratio(q1, q2)
        lo, hi = (pb, pa) if q1 > q2 else (pa, pb)
        if k <= mism[hi, base + M_LIMIT]:
            mismatch = series_mismatch(mism, lo, hi, base, terms, k)
        else:
            mismatch = _erf_norm_mismatch(q1, q2, s, math.sqrt(one_minus_s2))
        value += (2.0 / math.pi) * mismatch
    radicand = ra[F_R2] * rb[F_R2]
    x = 4.0 * q1 * q2 * d * (2.0 - d)
    det = d0 + x
    gap = x
    if q1 != q2:
        gap += 4.0 * (q1 - q2) ** 2 / (d0 + radicand)
    root_d = math.sqrt(det)
    root_w = ra[F_R4] * rb[F_R4]
    derivative = (4.0 / math.pi) * gap / (root_w * root_d * (root_d + root_w))
    return value, derivative


@numba.njit(cache=True)
def _variances(kind: int, square_sum: float, q: float) -> tuple[float, float]:
    """(V(q), W(q)) = (E[φ²], E[φ'²]) at variance q (erf's arcsin(2q/(1 + 2q)) as
    atan2(2q, √(1 + 4q)): the arcsine of a rounded argument near 1 would lose √q ulps)."""
    if kind == KIND_ABRELU:
        return 0.5 * square_sum * q, 0.5 * square_sum
    root = math.sqrt(1.0 + 4.0 * q)
    return (2.0 / math.pi) * math.atan2(2.0 * q, root), (4.0 / math.pi) / root


# --- exponent bookkeeping -------------------------------------------------------------


@numba.njit(cache=True, inline="always")
def _add(m1: float, x1: int, m2: float, x2: int) -> tuple[float, int]:
    """m1·2^x1 + m2·2^x2 (both ≥ 0) as m·2^x with m ∈ [½, 2) (or 0)."""
    if m1 == 0.0 and m2 == 0.0:
        return 0.0, 0
    e1 = x1 + math.frexp(m1)[1] if m1 != 0.0 else -(2**62)
    e2 = x2 + math.frexp(m2)[1] if m2 != 0.0 else -(2**62)
    top = max(e1, e2)
    return _shift(m1, x1 - top) + _shift(m2, x2 - top), top


@numba.njit(cache=True, inline="always")
def _shift(m: float, x: int) -> float:
    """m·2^x, 0 below the float64 range."""
    if x == 0:
        return m
    if x < -1100:
        return 0.0
    return math.ldexp(m, x)


# --- diagonals ------------------------------------------------------------------------


@numba.njit(cache=True)
def _snap(values: Array, rtol: float) -> None:
    """core.deficits.snapped in place: values within rtol of a smaller one take its value."""
    low, high = values.min(), values.max()
    if low == high:
        return
    if high - low <= rtol * abs(high):
        values[:] = low
        return
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    representative = ordered[0]
    for i in range(1, order.size):
        if ordered[i] - ordered[i - 1] > rtol * abs(ordered[i]):
            representative = ordered[i]
        values[order[i]] = representative


@numba.njit(cache=True)
def _diagonal_shift(values: Array) -> int:
    """Exponent by which the diagonal is rescaled (Track.normalise), 0 if in range."""
    top = values.max()
    if top > 0.0:
        exponent = math.frexp(top)[1]
        if abs(exponent) > DIAGONAL_LIMIT:
            return exponent
    return 0


@numba.njit(parallel=True, cache=True)
def _fill_mismatch_fields(table: Array, rows: Integers, layout: Integers, mism: Array) -> None:
    """mism[i, base:base + M_COEF + terms] = point i's fields at each layer with a rule
    (``rows[layer]`` ≥ 0; (base, terms) = layout[layer]), in parallel over the points."""
    for i in numba.prange(table.shape[0]):
        work = np.empty((WORK_ROWS, MAX_TERMS + 2))
        for layer in range(rows.size):
            q = table[i, layer, F_Q]
            if rows[layer] >= 0 and q > 0.0:
                base, terms = layout[layer, 0], layout[layer, 1]
                point_fields(q, rows[layer], mism[i, base : base + M_COEF + terms], work)


@numba.njit(cache=True)
def _mismatch_fields(table: Array, depth: int) -> tuple[Array, Integers]:
    """erf's per-point mismatch fields of :func:`_diagonals` (mism, layout)."""
    points = table.shape[0]
    layout = np.zeros((depth, 2), np.int64)
    rows = np.full(depth, -1, np.int64)
    width = 0
    for layer in range(1, depth):
        q = table[:, layer, F_Q]
        positive = q[q > 0.0]
        if positive.size < 2 or positive.min() == positive.max():
            continue
        # ½|ln(ρ1/ρ2)| ≤ ½(ln ρ_max − ln ρ_min) over all pairs, the limit set by ρ_max
        # (over the variances the series serves; every point still gets its limit field)
        served = positive[positive <= SERIES_MAX_Q]
        rows[layer] = 0
        if served.size >= 2 and served.min() < served.max():
            low, high = served.min(), served.max()
            lowest = math.log(2.0 * low / (1.0 + 2.0 * low))
            highest = math.log(2.0 * high / (1.0 + 2.0 * high))
            rows[layer] = rule_for(0.5 * (highest - lowest) / min(-highest, 1.0))
        layout[layer, 0] = width
        layout[layer, 1] = int(RULES[rows[layer], 0])
        width += M_COEF + layout[layer, 1]
    mism = np.zeros((points, max(width, 1)))
    _fill_mismatch_fields(table, rows, layout, mism)
    return mism, layout


@numba.njit(cache=True)
def _diagonals(
    kind: int,
    square_sum: float,
    homogeneous: bool,
    w2: float,
    b2: float,
    g0: Array,
    depth: int,
    slots: Integers,
    rtol: float,
) -> tuple[Array, Array, Integers, Array, Integers, Integers, Integers, Array, Integers, Integers]:
    """Per-point layer table [points, depth, FIELDS] and per-layer scalars of the recursion.

    Returns (table, erf mismatch fields [points, width] and their layout [depth, 2] (the
    fields of layer l are mism[:, base:base + M_COEF + terms] with (base, terms) =
    layout[l], :mod:`core.erf_mismatch`; only at the layers whose variances are not all
    equal, with the fewest terms covering all pairs of the layer), bias
    [depth], sigma_shift [depth], theta_shift [depth] (s − top, the Σ and Θ scales
    relative to the common scale of Θ'), rescale [depth, 2] (the diagonal renormalisation
    exponents of Σ and Θ entering layer l), diagonals [slots, 2, points], scales [slots,
    2], first (Σ¹'s renormalisation)).
    """
    points = g0.size
    table = np.zeros((points, depth, FIELDS))
    bias = np.zeros(depth)
    sigma_shift = np.zeros(depth, np.int64)
    theta_shift = np.zeros(depth, np.int64)
    rescale = np.zeros((depth + 1, 2), np.int64)
    outputs = int(slots.max()) + 1
    diagonals = np.zeros((outputs, 2, points))
    scales = np.zeros((outputs, 2), np.int64)
    g = g0.copy()
    s = 0
    first = _diagonal_shift(g) if homogeneous else 0
    if first != 0:
        g = g * math.ldexp(1.0, -first)
        s += first
    h = g.copy()
    sh = s
    for layer in range(1, depth + 1):
        slot = slots[layer]
        if slot >= 0:
            diagonals[slot, 0] = g
            diagonals[slot, 1] = h
            scales[slot, 0] = s
            scales[slot, 1] = sh
        if layer == depth:
            break
        beta = math.ldexp(b2, -s)
        top = max(s, sh)
        bias[layer] = beta
        sigma_shift[layer] = s - top
        theta_shift[layer] = sh - top
        g_next = np.empty(points)
        h_next = np.empty(points)
        for i in range(points):
            v, w = _variances(kind, square_sum, g[i])
            v *= w2
            w *= w2
            p = math.ldexp(v + beta, s - top)
            r = math.ldexp(w * h[i], sh - top)
            row = table[i, layer]
            row[F_RG] = math.sqrt(g[i])
            row[F_Q] = g[i]
            row[F_SV] = math.sqrt(v)
            row[F_SVB] = math.sqrt(v + beta)
            row[F_SD] = math.sqrt(w)
            row[F_RTH] = math.sqrt(h[i])
            row[F_SP] = math.sqrt(p)
            row[F_SR] = math.sqrt(r)
            row[F_ST] = math.sqrt(p + r)
            if kind == KIND_ERF:
                q = g[i]
                row[F_IP] = 1.0 / (1.0 + 2.0 * q)
                row[F_SRHO] = math.sqrt(2.0 * q / (1.0 + 2.0 * q))
                row[F_R2] = math.sqrt(1.0 + 4.0 * q)
                row[F_R4] = math.sqrt(row[F_R2])
            g_next[i] = v + beta
            h_next[i] = p + r
        _snap(g_next, rtol)
        _snap(h_next, rtol)
        g, h, sh = g_next, h_next, top
        shift = _diagonal_shift(g) if homogeneous else 0
        if shift != 0:
            g = g * math.ldexp(1.0, -shift)
            s += shift
        rescale[layer + 1, 0] = shift
        shift = _diagonal_shift(h)
        if shift != 0:
            h = h * math.ldexp(1.0, -shift)
            sh += shift
        rescale[layer + 1, 1] = shift
    mism, layout = (
        _mismatch_fields(table, depth)
        if kind == KIND_ERF
        else (np.zeros((1, 1)), np.zeros((depth, 2), np.int64))
    )
    return (
        table,
        mism,
        layout,
        bias,
        sigma_shift,
        theta_shift,
        rescale,
        diagonals,
        scales,
        np.array([first], np.int64),
    )


# --- one entry through all layers -----------------------------------------------------


@numba.njit(cache=True, inline="always")
def _deficits(
    kind: int,
    square_sum: float,
    jump: float,
    ra: Array,
    rb: Array,
    mism: Array,
    pa: int,
    pb: int,
    base: int,
    terms: int,
    root: float,
    d: float,
) -> tuple[float, float]:
    """(√(V1V2) − E[φφ], √(W1W2) − E[φ'φ']) at cosine deficit d ∈ [0, 2]."""
    if kind == KIND_ABRELU:
        theta = deficit_angle(d)
        gap = square_sum * math.pi * d - jump * sin_minus_theta_cos_at(theta, d)
        return root / TWO_PI * max(gap, 0.0), jump * theta / TWO_PI
    return _erf_deficits(ra, rb, mism, pa, pb, base, terms, d)


@numba.njit(cache=True, inline="always")
def _slopes(
    kind: int, square_sum: float, jump: float, q1: float, q2: float, root: float
) -> tuple[float, float]:
    """(a, b) of Activation.small_deficit_slopes (p = ½ for ABRelu, 1 for erf)."""
    if kind == KIND_ABRELU:
        return 0.5 * square_sum * root, jump * math.sqrt(2.0) / TWO_PI
    d0 = 1.0 + 2.0 * q1 + 2.0 * q2
    return (4.0 / math.pi) * root / math.sqrt(d0), 16.0 * q1 * q2 / (math.pi * d0**1.5)


@numba.njit(cache=True, inline="always")
def _write(
    out_m: Array,
    out_x: Integers,
    bounds: Integers,
    slot: int,
    kernel: int,
    a: int,
    b: int,
    m: float,
    x: int,
    mirror: bool,
) -> None:
    out_m[slot, kernel, a, b] = m
    out_x[slot, kernel, a, b] = x
    if mirror:
        out_m[slot, kernel, b, a] = m
        out_x[slot, kernel, b, a] = x
    if m != 0.0:
        bounds[slot, kernel, 0] = min(bounds[slot, kernel, 0], x)
        bounds[slot, kernel, 1] = max(bounds[slot, kernel, 1], x)


@numba.njit(cache=True, inline="always")
def _step(
    kind: int,
    square_sum: float,
    jump: float,
    w2: float,
    ra: Array,
    rb: Array,
    mism: Array,
    pa: int,
    pb: int,
    base: int,
    terms: int,
    beta: float,
    fs: int,
    ft: int,
    es: float,
    xs: int,
    et: float,
    xt: int,
) -> tuple[float, int, float, int]:
    """One layer of one entry: (E_Σ, x_Σ, E_Θ, x_Θ) → the next layer's (before the
    diagonal renormalisation); ``ra``, ``rb``: the two points' table rows at this layer,
    ``pa``, ``pb`` the points, ``base``, ``terms``: this layer's erf mismatch fields
    in ``mism`` (see :func:`_diagonals`)."""
    root = ra[F_RG] * rb[F_RG]
    q1, q2 = ra[F_Q], rb[F_Q]
    gap = 0.0
    if beta > 0.0 and ra[F_SV] != rb[F_SV]:
        diff = ra[F_SV] - rb[F_SV]
        gap = beta * diff * diff / (ra[F_SVB] * rb[F_SVB] + ra[F_SV] * rb[F_SV] + beta)
    cross = ra[F_SP] * rb[F_SR] - rb[F_SP] * ra[F_SR]
    mismatch = 0.0
    if cross != 0.0:
        spread = ra[F_ST] * rb[F_ST] + ra[F_SP] * rb[F_SP] + ra[F_SR] * rb[F_SR]
        mismatch = cross * cross / spread
    theta_e = _shift(et, xt)
    theta_ab = ra[F_RTH] * rb[F_RTH] - theta_e
    dot_root = ra[F_SD] * rb[F_SD]
    scaled = es / root if root > 0.0 else 0.0
    if xs == 0:
        linear = 0.0 < scaled < SMALLEST_NONLINEAR
    else:
        linear = es > 0.0 and xs + math.frexp(scaled)[1] < LINEAR_BELOW
    if not linear:
        d = min(max(_shift(scaled, xs), 0.0), 2.0)
        d_phi, d_dphi = _deficits(
            kind, square_sum, jump, ra, rb, mism, pa, pb, base, terms, root, d
        )
        es_new = w2 * d_phi + gap
        if fs == 0 and ft == 0:
            total = es_new + dot_root * theta_e + theta_ab * w2 * d_dphi + mismatch
        else:
            total = (
                _shift(es_new, fs)
                + dot_root * _shift(et, xt + ft)
                + theta_ab * w2 * d_dphi * math.ldexp(1.0, ft)
                + mismatch
            )
        return es_new, 0, max(total, 0.0), 0
    slope, rise = _slopes(kind, square_sum, jump, q1, q2, root)
    m0, m1 = 0.0, 0.0
    if q1 != q2:
        m0, m1 = _deficits(kind, square_sum, jump, ra, rb, mism, pa, pb, base, terms, root, 0.0)
    s_m, s_x = _add(w2 * m0 + gap, 0, w2 * slope * scaled, xs)
    if kind == KIND_ABRELU:  # power ½: keep the exponent even so its half is exact
        odd = xs & 1
        lin_m, lin_x = w2 * rise * math.sqrt(math.ldexp(scaled, odd)), (xs - odd) // 2
    else:
        lin_m, lin_x = w2 * rise * scaled, xs
    dphi_m, dphi_x = _add(w2 * m1, 0, lin_m, lin_x)
    total_m, total_x = _add(s_m, s_x + fs, dot_root * et, xt + ft)
    total_m, total_x = _add(total_m, total_x, theta_ab * dphi_m, dphi_x + ft)
    total_m, total_x = _add(total_m, total_x, mismatch, 0)
    return s_m, s_x, max(total_m, 0.0), total_x


@numba.njit(cache=True)
def _tail_entries(
    table: Array,
    point_a: int,
    points_b: Integers,
    start: int,
    es: Array,
    xs: Integers,
    et: Array,
    xt: Integers,
    tail_slots: Integers,
    coef: Array,
    slope_m: Array,
    slope_x: Integers,
    diagonal: Array,
    diagonal_x: Integers,
    grid: Array,
    scratch: Array,
    out_m: Array,
    out_x: Integers,
    bounds: Integers,
    a: int,
    columns: Integers,
    mirror: bool,
) -> None:
    """Write the slots ``tail_slots`` (depths past the snap layer ``start``) of the entries
    (a, columns[j]) from their state at ``start`` by the tables of core.settled_tail:
    F = N_F(δ)·exp(y_F(ln θ + θ)) (y_F = 0 below δ_lin), E_Σ = F_Σ and
    E_Θ = M + ΔA + ΔB·X + (B₀ − ΔB)·e (that module's doc). ``slope_m``, ``slope_x``
    [slots, 2, TAIL_FUNCTIONS]: k_F and c_F (slots of :func:`_fast_tail_slots` in plain
    floats: entries with δ and e ≥ FAST_SMALLEST are then formed without exponents)."""
    v_lo, width, delta_lin = grid[0], grid[1], grid[2]
    panels, degree = coef.shape[2], coef.shape[3]
    ra = table[point_a, start]
    q = ra[F_Q]
    y, f_m, f_x = scratch[0], scratch[1], scratch[2]  # f_x: integer-valued exponents
    for j in range(columns.size):
        rb = table[points_b[j], start]
        dm, dx = es[j] / q, xs[j]
        dv = _shift(dm, dx)
        if dv > 2.0:
            dm, dx, dv = 2.0, 0, 2.0
        tabulated = dv >= delta_lin
        panel, x2 = 0, 0.0
        if tabulated:
            theta = deficit_angle(dv)
            v = math.log(theta) + theta
            panel = min(max(int((v - v_lo) / width), 0), panels - 1)
            x2 = 2.0 * (2.0 * (v - v_lo - panel * width) / width - 1.0)
        root_x = ra[F_RTH] * rb[F_RTH]
        diff = ra[F_RTH] - rb[F_RTH]
        xa, xb = ra[F_RTH] * ra[F_RTH], rb[F_RTH] * rb[F_RTH]
        e_theta = _shift(et[j], xt[j])
        fast_entry = dx == 0 and dv >= FAST_SMALLEST and (xt[j] == 0 or e_theta >= FAST_SMALLEST)
        for i in range(tail_slots.size):
            for f in range(TAIL_FUNCTIONS):
                y[f] = 0.0
                if tabulated:  # Clenshaw, as core.equal_norm._evaluate
                    row = coef[i, f, panel]
                    b1 = b2 = 0.0
                    for k in range(degree - 1, 0, -1):
                        b1, b2 = x2 * b1 - b2 + row[k], b1
                    y[f] = 0.5 * x2 * b1 - b2 + row[0]
            a0, b0m, b0x = diagonal[i, 0], diagonal[i, 1], diagonal_x[i]
            if fast_entry and b0x == 0 and slope_x[i, 0, 0] == FAST_SLOT:
                # every scale of this slot in plain floats (see _fast_tail_slots)
                for f in range(TAIL_FUNCTIONS):
                    kd = slope_m[i, 0, f] * dv
                    f_m[f] = kd / (1.0 + kd / slope_m[i, 1, f]) * math.exp(y[f])
                den = math.sqrt((a0 + b0m * xa) * (a0 + b0m * xb)) + a0 + b0m * root_x
                t_m = a0 * b0m * diff * diff / den + f_m[1] + f_m[2] * root_x
                t_m += (b0m - f_m[2]) * e_theta
                slot = tail_slots[i]
                _write(out_m, out_x, bounds, slot, 0, a, columns[j], f_m[0], 0, mirror)
                _write(out_m, out_x, bounds, slot, 1, a, columns[j], max(t_m, 0.0), 0, mirror)
                continue
            for f in range(TAIL_FUNCTIONS):  # F = N·e^y, N = kδ/(1 + kδ/c)
                if dm > 0.0:
                    k_m, c_m = slope_m[i, 0, f], slope_m[i, 1, f]
                    k_x, c_x = slope_x[i, 0, f], slope_x[i, 1, f]
                    o_m, o_x = _add(1.0, 0, k_m * dm / c_m, k_x + dx - c_x)
                    f_m[f], f_x[f] = k_m * dm / o_m * math.exp(y[f]), k_x + dx - o_x
                else:
                    f_m[f], f_x[f] = 0.0, 0.0
            s_m, s_x = _add(f_m[0], int(f_x[0]), 0.0, 0)
            da_m, da_x = f_m[1], int(f_x[1])
            db_m, db_x = f_m[2], int(f_x[2])
            b0 = _shift(b0m, b0x)
            den = math.sqrt((a0 + b0 * xa) * (a0 + b0 * xb)) + a0 + b0 * root_x
            t_m, t_x = _add(a0 * b0m * diff * diff / den, b0x, da_m, da_x)
            t_m, t_x = _add(t_m, t_x, db_m * root_x, db_x)
            rest = b0m - _shift(db_m, db_x - b0x)
            t_m, t_x = _add(t_m, t_x, rest * et[j], b0x + xt[j])
            slot = tail_slots[i]
            _write(out_m, out_x, bounds, slot, 0, a, columns[j], s_m, s_x, mirror)
            _write(out_m, out_x, bounds, slot, 1, a, columns[j], max(t_m, 0.0), t_x, mirror)


@numba.njit(cache=True)
def _run_group(
    kind: int,
    square_sum: float,
    jump: float,
    w2: float,
    table: Array,
    mism: Array,
    layout: Integers,
    lane_table: Array,
    lane_mism: Array,
    lane_layers: Integers,
    point_a: int,
    points_b: Integers,
    bias: Array,
    sigma_shift: Integers,
    theta_shift: Integers,
    rescale: Integers,
    slots: Integers,
    depth: int,
    tail_layer: int,
    tail_slots: Integers,
    tail_coef: Array,
    tail_slope_m: Array,
    tail_slope_x: Integers,
    tail_diagonal: Array,
    tail_diagonal_x: Integers,
    tail_grid: Array,
    es: Array,
    xs: Integers,
    et: Array,
    xt: Integers,
    scratch: Array,
    lane_work: Array,
    flag: Integers,
    out_m: Array,
    out_x: Integers,
    bounds: Integers,
    a: int,
    columns: Integers,
    mirror: bool,
) -> None:
    """Advance the entries (a, columns[j]) together from depth 1 (Σ = es·2^xs, Θ =
    et·2^xt, equal there; all four arrays updated in place; ``scratch`` [3,
    TAIL_FUNCTIONS]: work space of the tail) to
    ``depth``, writing each slot: independent lanes, so that the processor overlaps their
    dependency chains. ``bounds[slot, kernel]`` accumulates (min, max) of the exponents.
    At ``tail_layer`` the remaining slots are written from the settled-tail tables.
    At the layers with ``lane_layers`` set, consecutive column points run through
    :mod:`core.lanes` (``lane_table`` [depth, FIELDS, points], ``lane_mism``
    [width, points]: the table and mismatch fields transposed; ``lane_work`` [2 +
    LANE_WORK_ROWS, ≥ lanes], ``flag`` [≥ lanes]: its work space), the lanes it flags
    through :func:`_step`."""
    lanes = columns.size
    consecutive = points_b[lanes - 1] - points_b[0] == lanes - 1
    es_new, et_new, work = lane_work[0], lane_work[1], lane_work[2:]
    for layer in range(1, depth + 1):
        slot = slots[layer]
        if slot >= 0:
            for j in range(lanes):
                _write(out_m, out_x, bounds, slot, 0, a, columns[j], es[j], xs[j], mirror)
                _write(out_m, out_x, bounds, slot, 1, a, columns[j], et[j], xt[j], mirror)
        if layer == depth:
            return
        if layer == tail_layer:
            _tail_entries(
                table,
                point_a,
                points_b,
                layer,
                es,
                xs,
                et,
                xt,
                tail_slots,
                tail_coef,
                tail_slope_m,
                tail_slope_x,
                tail_diagonal,
                tail_diagonal_x,
                tail_grid,
                scratch,
                out_m,
                out_x,
                bounds,
                a,
                columns,
                mirror,
            )
            return
        ra = table[point_a, layer]
        base, terms = layout[layer, 0], layout[layer, 1]
        beta, fs, ft = bias[layer], sigma_shift[layer], theta_shift[layer]
        shift_s, shift_t = rescale[layer + 1, 0], rescale[layer + 1, 1]
        vector = lane_layers[layer] != 0 and consecutive
        if vector and kind == KIND_ABRELU:
            abrelu_lanes(
                w2,
                beta,
                SMALLEST_NONLINEAR,
                square_sum,
                jump,
                ra,
                lane_table[layer],
                points_b[0],
                es,
                et,
                es_new,
                et_new,
                flag,
            )
        elif vector:
            erf_lanes(
                w2,
                beta,
                SMALLEST_NONLINEAR,
                ra,
                lane_table[layer],
                mism[point_a, base : base + M_COEF + terms],
                lane_mism,
                points_b[0],
                base,
                terms,
                es,
                et,
                es_new,
                et_new,
                flag,
                work,
            )
        for j in range(lanes):
            if vector and flag[j] == 0 and xs[j] == 0 and xt[j] == 0:
                es[j], xs[j], et[j], xt[j] = es_new[j], -shift_s, et_new[j], -shift_t
                continue
            rb = table[points_b[j], layer]
            e1, x1, e2, x2 = _step(
                kind,
                square_sum,
                jump,
                w2,
                ra,
                rb,
                mism,
                point_a,
                points_b[j],
                base,
                terms,
                beta,
                fs,
                ft,
                es[j],
                xs[j],
                et[j],
                xt[j],
            )
            es[j], xs[j], et[j], xt[j] = e1, x1 - shift_s, e2, x2 - shift_t


@numba.njit(cache=True, inline="always")
def _first_deficit(a1: float, a2: float, b0: float, delta: float) -> float:
    """Σ¹'s Cauchy–Schwarz deficit (core.kernels.first_layer), exponent 0."""
    deficit = math.sqrt(a1 * a2) * delta
    if b0 > 0.0 and a1 != a2:
        gap = math.sqrt(a1) - math.sqrt(a2)
        denominator = math.sqrt((a1 + b0) * (a2 + b0)) + math.sqrt(a1 * a2) + b0
        deficit += b0 * gap * gap / denominator
    return deficit


@numba.njit(parallel=True, cache=True)
def _run_pairs(
    kind: int,
    square_sum: float,
    jump: float,
    w2: float,
    table: Array,
    mism: Array,
    layout: Integers,
    lane_table: Array,
    lane_mism: Array,
    lane_layers: Integers,
    row_point: Integers,
    column_point: Integers,
    bias: Array,
    sigma_shift: Integers,
    theta_shift: Integers,
    rescale: Integers,
    slots: Integers,
    depth: int,
    tail_layer: int,
    tail_slots: Integers,
    tail_coef: Array,
    tail_slope_m: Array,
    tail_slope_x: Integers,
    tail_diagonal: Array,
    tail_diagonal_x: Integers,
    tail_grid: Array,
    delta: Array,
    angular: Array,
    b0: float,
    first_shift: int,
    tiles: Integers,
    same: bool,
    out_m: Array,
    out_x: Integers,
    bounds: Integers,
) -> None:
    """Every entry of the given tiles (a ≤ b only when ``same``), in parallel.

    Σ¹'s deficit is √(A_aA_b) δ + σ_b0² (√A_a − √A_b)² / (√(Σ¹_aaΣ¹_bb) + √(A_aA_b) + σ_b0²)
    with A = σ_w0²‖x‖²/d (``angular``) and δ = 1 − cos; ``tiles`` [k, 2]: the first row
    and column of each TILE × TILE block; ``bounds`` [k, slots, 2, 2]: per tile, (min, max)
    of the exponents written.
    """
    n1, n2 = delta.shape
    for k in numba.prange(tiles.shape[0]):
        tile_bounds = bounds[k]
        tile_bounds[:, :, 0] = 2**62
        tile_bounds[:, :, 1] = -(2**62)
        row, column = tiles[k, 0], tiles[k, 1]
        column_buffer = np.empty(LANES, np.int64)
        point_buffer = np.empty(LANES, np.int64)
        es_buffer, et_buffer = np.empty(LANES), np.empty(LANES)
        xs_buffer, xt_buffer = np.empty(LANES, np.int64), np.empty(LANES, np.int64)
        scratch = np.empty((3, TAIL_FUNCTIONS))
        lane_work = np.empty((2 + LANE_WORK_ROWS, LANES))
        flag = np.empty(LANES, np.uint8)
        for a in range(row, min(row + TILE, n1)):
            start = max(a, column) if same else column
            if same and start == a:
                out_m[:, :, a, a] = 0.0
                out_x[:, :, a, a] = 0
                start += 1
            stop = min(column + TILE, n2)
            for group in range(start, stop, LANES):
                count = min(LANES, stop - group)
                columns, points_b = column_buffer[:count], point_buffer[:count]
                es, xs = es_buffer[:count], xs_buffer[:count]
                et, xt = et_buffer[:count], xt_buffer[:count]
                for j in range(count):
                    columns[j] = group + j
                    points_b[j] = column_point[group + j]
                    es[j] = _first_deficit(
                        angular[row_point[a]], angular[points_b[j]], b0, delta[a, group + j]
                    )
                    et[j] = es[j]
                    xs[j] = xt[j] = -first_shift
                _run_group(
                    kind,
                    square_sum,
                    jump,
                    w2,
                    table,
                    mism,
                    layout,
                    lane_table,
                    lane_mism,
                    lane_layers,
                    row_point[a],
                    points_b,
                    bias,
                    sigma_shift,
                    theta_shift,
                    rescale,
                    slots,
                    depth,
                    tail_layer,
                    tail_slots,
                    tail_coef,
                    tail_slope_m,
                    tail_slope_x,
                    tail_diagonal,
                    tail_diagonal_x,
                    tail_grid,
                    es,
                    xs,
                    et,
                    xt,
                    scratch,
                    lane_work,
                    flag,
                    out_m,
                    out_x,
                    tile_bounds,
                    a,
                    columns,
                    same,
                )


@numba.njit(parallel=True, cache=True)
def _rescaled(out_m: Array, out_x: Integers, t: int) -> None:
    """out_m ← out_m·2^(out_x − t), in place (one slot and kernel)."""
    n1, n2 = out_m.shape
    for a in numba.prange(n1):
        for b in range(n2):
            out_m[a, b] = _shift(out_m[a, b], out_x[a, b] - t)


def _deficit_exponent(top: int) -> int:
    """The common exponent t ≤ 0 of an output deficit (as core.deficits.normalised: the
    entries' own exponents are ≤ top and their mantissas below 2^200)."""
    return top if top < -200 else 0


def tiles(n1: int, n2: int, same: bool) -> Integers:
    """[k, 2]: first row and column of the TILE × TILE blocks of an n1 × n2 loop (with
    ``same`` only the blocks on or above the diagonal): a mirrored write b, a then stays
    within a block's cache lines."""
    rows, columns = np.meshgrid(np.arange(0, n1, TILE), np.arange(0, n2, TILE), indexing="ij")
    keep = columns >= rows if same else np.ones(rows.shape, dtype=bool)
    return np.ascontiguousarray(np.stack([rows[keep], columns[keep]], axis=1))


def _tail_tables(
    kind: int,
    table: Array,
    bias: Array,
    sigma_shift: Integers,
    theta_shift: Integers,
    rescale: Integers,
    w2: float,
    depths: list[int],
    pairs: int,
) -> Any:
    """core.settled_tail's tables from the first layer l0 after which every point's Σ_aa
    is the same (erf, at least TAIL_MIN_PAIRS pairs and TAIL_MIN_LAYERS layers after l0,
    a requested depth past l0), else None."""
    depth = depths[-1]
    if kind != KIND_ERF or pairs < TAIL_MIN_PAIRS or depth < 2:
        return None
    q = table[:, 1:depth, F_Q]
    uniform = np.all(q == q[:1], axis=0)
    if not uniform[-1]:
        return None
    start = depth - int(np.argmin(uniform[::-1])) if not np.all(uniform) else 1
    later = [d for d in depths if d > start]
    if depth - start < TAIL_MIN_LAYERS or not later or not q[0, start - 1] > 0.0:
        return None
    from core.settled_tail import settled_tail

    return settled_tail(
        np.ascontiguousarray(table[0]),
        bias,
        sigma_shift,
        theta_shift,
        rescale,
        w2,
        start,
        depth,
        np.array(later, np.int64),
    )


def _fast_tail_slots(
    slope_m: Array, slope_x: Integers, diagonal: Array, diagonal_x: Integers
) -> tuple[Array, Integers, Array, Integers]:
    """The tail's scales with every slot whose k_F, c_F and B₀ are within 2^±FAST_EXPONENT
    turned into plain floats (exponent 0, slope_x[slot, 0, 0] = FAST_SLOT as the mark):
    its entries (δ, e ≥ FAST_SMALLEST) then stay far inside float64's range, results
    ≥ 2^-401."""
    slope_m, slope_x = slope_m.copy(), slope_x.copy()
    diagonal, diagonal_x = diagonal.copy(), diagonal_x.copy()
    for i in range(slope_m.shape[0]):
        exponents = np.append(slope_x[i].ravel(), diagonal_x[i])
        if np.all(np.abs(exponents) <= FAST_EXPONENT) and np.all(slope_m[i] > 0.0):
            slope_m[i] = np.ldexp(slope_m[i], slope_x[i])
            slope_x[i] = 0
            slope_x[i, 0, 0] = FAST_SLOT
            diagonal[i, 1] = math.ldexp(diagonal[i, 1], int(diagonal_x[i]))
            diagonal_x[i] = 0
    return slope_m, slope_x, diagonal, diagonal_x


#: a layer runs in lanes while at most this fraction of its pairs is left to the scalar step
LANE_SCALAR_SHARE = 0.25


def _far_pairs(q: Array) -> float:
    """The fraction of pairs of the variances ``q`` (all > 0) whose w = |q1 − q2|/(q1 + q2 +
    4q1q2) is at least SERIES_BELOW (w grows with the larger q: for each q_i, the q_j ≥ q_i
    with w ≥ t are those ≥ q_i(1 + t)/(1 − t − 4tq_i), where that is positive)."""
    q = np.sort(q)
    t = SERIES_BELOW
    room = 1.0 - t - 4.0 * t * q
    bound = np.where(room > 0.0, q * (1.0 + t) / np.where(room > 0.0, room, 1.0), np.inf)
    far = q.size - np.searchsorted(q, bound, side="left")
    pairs = q.size * (q.size - 1) / 2
    return float(np.sum(far)) / pairs if pairs else 0.0


def _lane_layers(
    kind: int, table: Array, layout: Integers, sigma_shift: Integers, theta_shift: Integers
) -> Integers:
    """1 at the layers run in lanes (:mod:`core.lanes`), else 0: every layer of a relu-like
    network whose Σ and Θ are at one scale; likewise for erf where the variances are
    positive and not all equal, with at most LANE_SCALAR_SHARE of the pairs' w past
    core.erf_mismatch's SERIES_BELOW (those lanes the scalar step redoes)."""
    lanes = np.zeros(layout.shape[0], np.uint8)
    if kind == KIND_ABRELU:
        lanes[1:] = (sigma_shift[1:] == 0) & (theta_shift[1:] == 0)
        return lanes
    for layer in np.flatnonzero((layout[:, 1] > 0) & (sigma_shift == 0) & (theta_shift == 0)):
        q = table[:, layer, F_Q]
        if q.min() > 0.0 and _far_pairs(q) <= LANE_SCALAR_SHARE:
            lanes[layer] = 1
    return lanes


def entry_states(
    network: Network,
    a1: Array,
    a2: Array | None,
    delta: Array,
    same: bool,
    depths: list[int],
    progress: Progress,
    notes: list[str] | None = None,
) -> list[LayerState]:
    """Deviation-form Σ and Θ at ``depths`` from the inputs' first-layer quantities.

    ``a1`` [n1], ``a2`` [n2]: σ_w0²‖x‖²/d of x1 and x2 (Σ¹_aa = a + σ_b0²); ``delta``
    [n1, n2]: input cosine deficits 1 − cos. With ``same`` (x2 = x1) ``a2`` is ``a1``;
    ``a2`` None: every x2 row has x1's single norm (the equal-norm table's grid).
    ``notes`` receives a line for the method when the settled tail is used.
    """
    found = entry_kind(network.activation)
    assert found is not None
    kind, square_sum, jump = found
    depth = depths[-1]
    slots = np.full(depth + 1, -1, np.int64)
    slots[np.array(depths)] = np.arange(len(depths))
    b0 = network.first_sigma_b2
    n1, n2 = delta.shape
    row_point = np.arange(n1)
    if same or a2 is None:
        angular = np.ascontiguousarray(a1, dtype=np.float64)
        column_point = np.arange(n2) if same else np.zeros(n2, np.int64)
    else:
        angular = np.concatenate([a1, a2]).astype(np.float64)
        column_point = n1 + np.arange(n2)
    g0 = angular + b0
    (
        table,
        mism,
        layout,
        bias,
        sigma_shift,
        theta_shift,
        rescale,
        diagonals,
        scales,
        shift,
    ) = _diagonals(
        kind,
        square_sum,
        kind == KIND_ABRELU,  # positively homogeneous: Σ's diagonal may be rescaled
        network.sigma_w2,
        network.sigma_b2,
        g0,
        depth,
        slots,
        float(SNAP_RTOL),
    )
    tail = _tail_tables(
        kind,
        table,
        bias,
        sigma_shift,
        theta_shift,
        rescale,
        network.sigma_w2,
        depths,
        n1 * n2,
    )
    if tail is None:
        tail_args: tuple[int, Integers, Array, Array, Integers, Array, Integers, Array] = (
            depth + 1,
            np.zeros(0, np.int64),
            np.zeros((1, TAIL_FUNCTIONS, 1, 1)),
            np.ones((1, 2, TAIL_FUNCTIONS)),
            np.zeros((1, 2, TAIL_FUNCTIONS), np.int64),
            np.zeros((1, 2)),
            np.zeros(1, np.int64),
            np.zeros(4),
        )
    else:
        if notes is not None:
            notes.append(f"layers past {tail.layer} from tables of the settled map")
        tail_scales = _fast_tail_slots(
            np.stack([tail.slope_m, tail.cap_m], axis=1),
            np.stack([tail.slope_x, tail.cap_x], axis=1),
            tail.diagonal,
            tail.diagonal_x,
        )
        tail_args = (tail.layer, slots[tail.depths], tail.coef, *tail_scales, tail.grid)
    lane_layers = _lane_layers(kind, table, layout, sigma_shift, theta_shift)
    if lane_layers.any():  # the transposed copies the lanes read
        lane_table = np.ascontiguousarray(table.transpose(1, 2, 0))
        lane_mism = np.ascontiguousarray(mism.T)
    else:
        lane_table, lane_mism = np.zeros((1, 1, 1)), np.zeros((1, 1))
    out_m = np.empty((len(depths), 2, n1, n2))
    out_x = np.empty((len(depths), 2, n1, n2), np.int32)
    blocks = tiles(n1, n2, same)
    chunks = np.array_split(blocks, max(1, min(8, (n1 * n2 * depth) // 2**24)))
    bounds = []
    done = 0
    for chunk in chunks:
        chunk_bounds = np.empty((chunk.shape[0], len(depths), 2, 2), np.int64)
        _run_pairs(
            kind,
            square_sum,
            jump,
            network.sigma_w2,
            table,
            mism,
            layout,
            lane_table,
            lane_mism,
            lane_layers,
            row_point,
            column_point,
            bias,
            sigma_shift,
            theta_shift,
            rescale,
            slots,
            depth,
            tail_args[0],
            tail_args[1],
            tail_args[2],
            tail_args[3],
            tail_args[4],
            tail_args[5],
            tail_args[6],
            tail_args[7],
            np.ascontiguousarray(delta),
            angular,
            b0,
            int(shift[0]),
            np.ascontiguousarray(chunk),
            same,
            out_m,
            out_x,
            chunk_bounds,
        )
        bounds.append(chunk_bounds)
        done += chunk.shape[0]
        if progress is not None:
            progress(done / blocks.shape[0])
    low = np.concatenate(bounds)[..., 0].min(axis=0)
    high = np.concatenate(bounds)[..., 1].max(axis=0)
    states = []
    for slot, layer in enumerate(depths):
        parts = []
        for kernel in range(2):
            top = int(high[slot, kernel])
            t = _deficit_exponent(top) if top > -(2**62) else 0
            if not int(low[slot, kernel]) == top == t:
                _rescaled(out_m[slot, kernel], out_x[slot, kernel], t)
            g = diagonals[slot, kernel]
            parts.append(
                DeviationPart(
                    g1=g[:n1].copy(),
                    g2=g[column_point],
                    deficit=out_m[slot, kernel],
                    log10_scale=int(scales[slot, kernel]) * LOG10_2,
                    log10_deficit_scale=t * LOG10_2,
                )
            )
        states.append(LayerState(layer, parts[0], parts[1]))
    return states
