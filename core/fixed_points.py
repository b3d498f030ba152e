"""Mean-field fixed points of a deep network (MATH.md §3): q*, χ₁, c*, χ_c*, depth scales.

Conventions
- Length map L(q) = σ_w² V(q) + σ_b² with V(q) = E_z[φ(√q z)²], z ~ N(0, 1).
- q* is the fixed point the layer recursion q^{l+1} = L(q^l) reaches from q⁰ = σ_w² + σ_b²
  (the first layer's Σ¹ for inputs normalised to ‖x‖² = d₀, as in the paper): for an
  increasing L this is the nearest fixed point in the direction L moves q⁰, a stable one.
- q* = 0 happens when σ_b² = 0, φ(0) = 0 and L contracts to 0 (e.g. tanh with σ_w² ≤ 1).
  Then χ₁ = σ_w² φ'(0)², p* = 0, and c* is not defined: f(c) below is 0/0, the layers act
  linearly as q^l → 0 and c^l settles at an input-dependent value, not at a fixed point.
- q* does not exist when L(q) > q all the way up (relu with σ_w² ≥ 2, σ_b² > 0), and is not
  determined when L is the identity (relu at σ_w² = 2, σ_b² = 0: every q is fixed).
- χ₁ = σ_w² E_z[φ'(√q* z)²]. For positively homogeneous φ (relu, leaky relu, abs, identity)
  it does not depend on q, so χ₁ and the phase exist even where q* does not; for other φ
  (softplus, gelu beyond σ_w² ≈ 2) they are undefined there.
- Phase: ``critical`` when |χ₁ − 1| ≤ CRITICAL_TOLERANCE, else ``ordered`` (χ₁ < 1) or
  ``chaotic`` (χ₁ > 1). At σ_b² = 0, χ₁ − 1 ≈ ε²/3 at σ_w² = σ_w²_crit (1 + ε) for erf and
  tanh, so there a band of relative width ~2e-6 is critical to this tolerance.
- Correlation map f(c) = (σ_w² E[φ(u)φ(v)] + σ_b²)/q*, (u, v) ~ N(0, q*[[1, c], [c, 1]]);
  f'(c) = σ_w² E[φ'(u)φ'(v)] (Price). c* = 1 in the ordered phase and on the critical line;
  in the chaotic phase, the largest stable fixed point below 1 (the one every c between it
  and 1 flows to), solved in δ = 1 − c with the activation's deficit form so that c* near 1
  keeps its digits. Where a quadrature activation cannot reach 1e-15 at q* (NumericalError)
  c* and χ_c* are left out for that cell, with a note.
- Depth scales ξ = −1/ln|x| for |x| < 1 (x = χ₁, χ_c*, L'(q*)); ``None`` where |x| ≥ 1.

The vectorised kernel :func:`solve_mean_field` serves both :func:`fixed_points` (one cell)
and the phase diagram (a grid), so the two always agree.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from core.errors import InvalidInputError, NumericalError

if TYPE_CHECKING:
    from core.activations import Activation

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

CRITICAL_TOLERANCE = 1e-12
"""|χ₁ − 1| at or below which a point counts as critical (float64 rounding of χ₁ is ~1e-15)."""

SIGMA2_MAX = 1e100
"""Largest σ_w², σ_b² accepted: beyond it the length map leaves the float64 range."""

Q_CAP = 1e150
"""No fixed point below Q_CAP means none at all: every activation here grows at most linearly,
so a fixed point, when one exists, is below σ_b²/(1 − slope at ∞) ≲ 1e16 · SIGMA2_MAX."""

MAX_ITERATIONS = 200

PHASE_LABELS = ("ordered", "critical", "chaotic")
"""Phase codes 0, 1, 2 index this tuple; code -1 means the phase is not defined."""
ORDERED, CRITICAL, CHAOTIC, UNDEFINED = 0, 1, 2, -1

# How the length map's fixed point came out (q_status).
Q_FOUND, Q_ZERO, Q_DIVERGES, Q_EVERY, Q_FAILED = 0, 1, 2, 3, 4
# How the correlation map's fixed point came out (c_status).
C_ONE, C_FOUND, C_NO_Q, C_Q_ZERO, C_UNRESOLVED, C_UNSTABLE, C_FAILED, C_NUMERICAL = range(8)

_EPS = float(np.finfo(np.float64).eps)
_UP_PROBES = 10.0 ** np.array([1, 2, 4, 8, 16, 32, 64, 128, 256], dtype=np.float64)
# Grids of cosine deficits δ = 1 − c for bracketing c*: uniform steps in (0, 2] plus points
# approaching δ = 0 (c = 1) geometrically. Closed forms cost per point: a coarse grid;
# quadratures cost per distinct q*, not per point: a fine grid (a tighter first bracket).
_DELTA_GRID = np.unique(np.concatenate([np.linspace(0.1, 2.0, 20), np.logspace(-16.0, -1.5, 12)]))
_FINE_DELTA_GRID = np.unique(
    np.concatenate([np.linspace(0.005, 2.0, 400), np.logspace(-16.0, -2.4, 70)])
)


@dataclass(frozen=True)
class RootReport:
    """How an iterative solve ended, in the style of scipy's ``RootResults``."""

    converged: bool
    iterations: int
    residual: float | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "converged": self.converged,
            "iterations": self.iterations,
            "residual": self.residual,
            "message": self.message,
        }


@dataclass(frozen=True)
class FixedPoints:
    """MATH.md §3 at one (activation, σ_w², σ_b²); ``None`` where a quantity does not exist."""

    q_star: float | None
    chi_1: float | None
    c_star: float | None
    chi_c_star: float | None
    xi_1: float | None
    xi_c_star: float | None
    xi_q: float | None
    phase: str | None
    p_star: float | None
    p_ab_star: float | None
    notes: list[str] = field(default_factory=list)
    q_convergence: RootReport | None = None
    c_convergence: RootReport | None = None

    def to_dict(self) -> dict[str, Any]:
        """API.md's field names, plus ``notes`` and ``convergence`` (per solved quantity)."""
        convergence = {}
        if self.q_convergence is not None:
            convergence["q_star"] = self.q_convergence.to_dict()
        if self.c_convergence is not None:
            convergence["c_star"] = self.c_convergence.to_dict()
        return {
            "q_star": self.q_star,
            "chi_1": self.chi_1,
            "c_star": self.c_star,
            "chi_c_star": self.chi_c_star,
            "xi_1": self.xi_1,
            "xi_c_star": self.xi_c_star,
            "xi_q": self.xi_q,
            "phase": self.phase,
            "p_star": self.p_star,
            "p_ab_star": self.p_ab_star,
            "notes": list(self.notes),
            "convergence": convergence,
        }


@dataclass(frozen=True)
class MeanFieldArrays:
    """Vectorised §3 quantities on flat arrays of cells; NaN where a quantity is undefined."""

    sigma_w2: FloatArray
    sigma_b2: FloatArray
    q_star: FloatArray
    q_status: IntArray
    q_iterations: IntArray
    q_residual: FloatArray
    chi_1: FloatArray
    phase: IntArray
    slope_q: FloatArray  # L'(q*) = σ_w² V'(q*)
    c_star: FloatArray
    c_status: IntArray
    c_iterations: IntArray
    c_residual: FloatArray
    chi_c_star: FloatArray
    xi_1: FloatArray
    xi_c_star: FloatArray
    xi_q: FloatArray
    p_star: FloatArray
    p_ab_star: FloatArray


def fixed_points(activation: Activation, sigma_w2: float, sigma_b2: float) -> FixedPoints:
    """q*, χ₁, c*, χ_c*, ξ₁, ξ_c*, ξ_q, phase, p*, p*_ab of MATH.md §3 (see module docstring)."""
    w2 = check_sigma_w2(sigma_w2)
    b2 = check_sigma_b2(sigma_b2)
    arrays = solve_mean_field(activation, np.array([w2]), np.array([b2]))
    return _cell(activation, arrays, 0)


def check_sigma_w2(value: float, name: str = "sigma_w2") -> float:
    """σ_w² as a float, or InvalidInputError unless 0 < σ_w² ≤ SIGMA2_MAX."""
    number = _as_float(value, name)
    if not (0.0 < number <= SIGMA2_MAX):
        raise InvalidInputError(
            f"{name} must be a finite number in (0, {SIGMA2_MAX:g}], got {value!r}", field=name
        )
    return number


def check_sigma_b2(value: float, name: str = "sigma_b2") -> float:
    """σ_b² as a float, or InvalidInputError unless 0 ≤ σ_b² ≤ SIGMA2_MAX."""
    number = _as_float(value, name)
    if not (0.0 <= number <= SIGMA2_MAX):
        raise InvalidInputError(
            f"{name} must be a finite number in [0, {SIGMA2_MAX:g}], got {value!r}", field=name
        )
    return number


def _as_float(value: float, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name} must be a number, got {value!r}", field=name) from None
    if isinstance(value, bool) or not math.isfinite(number):
        raise InvalidInputError(f"{name} must be a finite number, got {value!r}", field=name)
    return number


def is_scale_free(activation: Activation) -> bool:
    """Whether E_z[φ'(√q z)²] is the same for every q > 0 (positively homogeneous φ)."""
    d = np.asarray(activation.derivative_variance(np.array([1e-3, 1.0, 1e3, 1e6])), dtype=float)
    return bool(d[1] > 0 and np.all(np.abs(d - d[1]) <= 1e-12 * d[1]))


def solve_mean_field(
    activation: Activation, sigma_w2: FloatArray, sigma_b2: FloatArray
) -> MeanFieldArrays:
    """Kernel: §3 quantities for each cell of equal-length 1-D arrays of valid σ_w², σ_b²."""
    w2 = np.asarray(sigma_w2, dtype=np.float64)
    b2 = np.asarray(sigma_b2, dtype=np.float64)
    q_star, q_status, q_iterations, q_residual = _solve_q(activation, w2, b2)
    chi_1 = _chi_1(activation, w2, q_star, q_status)
    has_q = (q_status == Q_FOUND) | (q_status == Q_ZERO)
    phase = np.full(w2.shape, UNDEFINED, dtype=np.int64)
    defined = np.isfinite(chi_1)
    phase[defined & (chi_1 < 1.0)] = ORDERED
    phase[defined & (chi_1 > 1.0)] = CHAOTIC
    phase[defined & (np.abs(chi_1 - 1.0) <= CRITICAL_TOLERANCE)] = CRITICAL

    slope_q = np.full(w2.shape, np.nan)
    slope_q[has_q] = w2[has_q] * _variance_slope(activation, q_star[has_q])

    c_star, c_status, c_iterations, c_residual, chi_c_star = _solve_c(
        activation, w2, b2, q_star, q_status, chi_1, phase
    )

    ordered = phase == ORDERED
    xi_1 = np.where(ordered, _depth_scale(chi_1), np.nan)
    xi_c_star = np.where(phase == CRITICAL, np.nan, _depth_scale(chi_c_star))
    xi_q = _depth_scale(slope_q)
    p_star = np.full(w2.shape, np.nan)
    p_star[ordered] = q_star[ordered] / (1.0 - chi_1[ordered])
    p_ab_star = np.full(w2.shape, np.nan)
    chaotic_c = (phase == CHAOTIC) & (c_status == C_FOUND)
    p_ab_star[chaotic_c] = q_star[chaotic_c] * c_star[chaotic_c] / (1.0 - chi_c_star[chaotic_c])
    return MeanFieldArrays(
        sigma_w2=w2,
        sigma_b2=b2,
        q_star=q_star,
        q_status=q_status,
        q_iterations=q_iterations,
        q_residual=q_residual,
        chi_1=chi_1,
        phase=phase,
        slope_q=slope_q,
        c_star=c_star,
        c_status=c_status,
        c_iterations=c_iterations,
        c_residual=c_residual,
        chi_c_star=chi_c_star,
        xi_1=xi_1,
        xi_c_star=xi_c_star,
        xi_q=xi_q,
        p_star=p_star,
        p_ab_star=p_ab_star,
    )


def solve_chi_1(activation: Activation, sigma_w2: FloatArray, sigma_b2: FloatArray) -> FloatArray:
    """Kernel: χ₁ per cell as in solve_mean_field (NaN where undefined), without c*."""
    w2 = np.asarray(sigma_w2, dtype=np.float64)
    q_star, q_status, _, _ = _solve_q(activation, w2, np.asarray(sigma_b2, dtype=np.float64))
    return _chi_1(activation, w2, q_star, q_status)


def _chi_1(
    activation: Activation, w2: FloatArray, q_star: FloatArray, q_status: IntArray
) -> FloatArray:
    """σ_w² W(q*); for positively homogeneous φ also where q* does not exist."""
    has_q = (q_status == Q_FOUND) | (q_status == Q_ZERO)
    chi_1 = np.full(w2.shape, np.nan)
    chi_1[has_q] = w2[has_q] * _derivative_variance(activation, q_star[has_q])
    if is_scale_free(activation):
        no_q = (q_status == Q_DIVERGES) | (q_status == Q_EVERY)
        chi_1[no_q] = w2[no_q] * _derivative_variance(activation, np.ones(int(no_q.sum())))
    return chi_1


def _variance(activation: Activation, q: FloatArray) -> FloatArray:
    return np.asarray(activation.variance(q), dtype=np.float64)


def _variance_slope(activation: Activation, q: FloatArray) -> FloatArray:
    return np.asarray(activation.variance_slope(q), dtype=np.float64)


def _derivative_variance(activation: Activation, q: FloatArray) -> FloatArray:
    return np.asarray(activation.derivative_variance(q), dtype=np.float64)


def _depth_scale(x: FloatArray) -> FloatArray:
    """−1/ln|x| where |x| < 1 (0 where x = 0), NaN elsewhere (infinite or not a decay)."""
    magnitude = np.abs(x)
    decays = np.isfinite(magnitude) & (magnitude < 1.0 - CRITICAL_TOLERANCE)
    positive = decays & (magnitude > 0.0)
    out = np.where(decays, 0.0, np.nan)
    out[positive] = -1.0 / np.log(magnitude[positive])
    return out


# ---------------------------------------------------------------------------------------
# q*: the length map's fixed point


def _solve_q(
    activation: Activation, w2: FloatArray, b2: FloatArray
) -> tuple[FloatArray, IntArray, IntArray, FloatArray]:
    """q*, status, Newton iterations, residual |L(q*) − q*| per cell."""
    n = w2.size
    q_star = np.full(n, np.nan)
    status = np.full(n, Q_FAILED, dtype=np.int64)
    iterations = np.zeros(n, dtype=np.int64)
    residual = np.full(n, np.nan)

    def excess(q: FloatArray, idx: IntArray) -> FloatArray:
        """g(q) = L(q) − q at cells idx (q broadcastable against idx[:, None] or idx)."""
        shape = (-1,) + (1,) * (q.ndim - 1)
        w = w2[idx].reshape(shape)
        b = b2[idx].reshape(shape)
        return w * _variance(activation, q) + b - q

    q0 = w2 + b2
    everything = np.arange(n)
    g0 = excess(q0, everything)

    # A length map equal to the identity (relu at σ_w² = 2, σ_b² = 0): every q is fixed.
    flat = np.abs(g0) <= 4 * _EPS * q0
    if flat.any():
        idx = everything[flat]
        probes = q0[idx, None] * np.array([0.5, 2.0])
        still_flat = np.all(np.abs(excess(probes, idx)) <= 4 * _EPS * probes, axis=1)
        status[idx[still_flat]] = Q_EVERY
        exact = idx[~still_flat & (g0[idx] == 0.0)]
        q_star[exact], status[exact], residual[exact] = q0[exact], Q_FOUND, 0.0
    open_cells = status == Q_FAILED

    lo = np.zeros(n)
    hi = np.zeros(n)
    bracketed = np.zeros(n, dtype=bool)

    # L(q) − q is resolved only beyond its rounding, ~ eps · q: a probe counts as below
    # (above) the diagonal when L(q) − q < −4 eps q (> 4 eps q).
    # L moves q⁰ up: look for the first probe above q⁰ where L(q) < q.
    up = everything[open_cells & (g0 > 0)]
    if up.size:
        probes = q0[up, None] * np.minimum(_UP_PROBES, Q_CAP / q0[up, None])
        below = excess(probes, up) < -4 * _EPS * probes
        found = below.any(axis=1)
        first = np.argmax(below, axis=1)
        rows = np.arange(up.size)
        previous = np.where(first > 0, probes[rows, np.maximum(first - 1, 0)], q0[up])
        hit = up[found]
        lo[hit], hi[hit], bracketed[hit] = previous[found], probes[rows, first][found], True
        status[up[~found]] = Q_DIVERGES

    # L moves q⁰ down: look for the first probe below q⁰, down to 0, where L(q) > q.
    down = everything[open_cells & (g0 < 0)]
    if down.size:
        probes = np.concatenate([q0[down, None] / _UP_PROBES, np.zeros((down.size, 1))], axis=1)
        g = excess(probes, down)
        above = g > 4 * _EPS * probes
        found = above.any(axis=1)
        first = np.argmax(above, axis=1)
        rows = np.arange(down.size)
        previous = np.where(first > 0, probes[rows, np.maximum(first - 1, 0)], q0[down])
        hit = down[found]
        lo[hit], hi[hit], bracketed[hit] = probes[rows, first][found], previous[found], True
        zero = down[~found & (g[:, -1] == 0.0)]
        q_star[zero], status[zero], residual[zero] = 0.0, Q_ZERO, 0.0

    idx = everything[bracketed]
    if idx.size:

        def value_and_slope(q: FloatArray, cells: IntArray) -> tuple[FloatArray, FloatArray]:
            cell = idx[cells]
            value = excess(q, cell)
            slope = w2[cell] * _variance_slope(activation, q) - 1.0
            return value, slope

        unknown = np.full(idx.size, np.nan)  # bisect wide brackets geometrically, no secant
        root, converged, its, res = bracketed_newton(
            value_and_slope, lo[idx], hi[idx], unknown, unknown, lambda q: np.maximum(q, 1e-300)
        )
        iterations[idx] = its
        residual[idx] = res
        ok = idx[converged]
        q_star[ok], status[ok] = root[converged], Q_FOUND
    return q_star, status, iterations, residual


# ---------------------------------------------------------------------------------------
# c*: the correlation map's stable fixed point


def _solve_c(
    activation: Activation,
    w2: FloatArray,
    b2: FloatArray,
    q_star: FloatArray,
    q_status: IntArray,
    chi_1: FloatArray,
    phase: IntArray,
) -> tuple[FloatArray, IntArray, IntArray, FloatArray, FloatArray]:
    """c*, status, iterations, residual |f(c*) − c*|, χ_c* per cell."""
    n = w2.size
    c_star = np.full(n, np.nan)
    status = np.full(n, C_NO_Q, dtype=np.int64)
    iterations = np.zeros(n, dtype=np.int64)
    residual = np.full(n, np.nan)
    chi_c = np.full(n, np.nan)
    status[q_status == Q_ZERO] = C_Q_ZERO

    positive_q = q_status == Q_FOUND
    at_one = positive_q & ((phase == ORDERED) | (phase == CRITICAL))
    c_star[at_one], status[at_one], chi_c[at_one] = 1.0, C_ONE, chi_1[at_one]
    if at_one.any():
        q = q_star[at_one]
        f_one = (w2[at_one] * _variance(activation, q) + b2[at_one]) / q
        residual[at_one] = np.abs(f_one - 1.0)

    idx = np.flatnonzero(positive_q & (phase == CHAOTIC))
    if idx.size == 0:
        return c_star, status, iterations, residual, chi_c

    # In the cosine deficit δ = 1 − c, with the deficit forms (no cancellation near c = 1):
    # 1 − f(c) = σ_w² D(δ)/q*, D(δ) = V(q*) − E[φ(u)φ(v)], using σ_w² V(q*) + σ_b² = q*.
    # k(δ) = σ_w² D(δ)/q* − δ = c − f(c); k > 0 just above δ = 0 when χ₁ > 1.
    def excess(delta: FloatArray, cells: IntArray) -> FloatArray:
        """k(δ) at cells idx[cells] (δ may carry a trailing grid axis)."""
        shape = (-1,) + (1,) * (delta.ndim - 1)
        q = q_star[idx[cells]].reshape(shape)
        w = w2[idx[cells]].reshape(shape)
        deficit = np.asarray(activation.correlation_deficit(q, q, delta), dtype=np.float64)
        return w * deficit / q - delta

    def f_prime(delta: FloatArray, cells: IntArray) -> FloatArray:
        """f'(c) = σ_w² E[φ'(u)φ'(v)] (not W − deficit: E[φ'φ'] ≪ W at large q and c < 1)."""
        q = q_star[idx[cells]]
        slope = activation.derivative_correlation(q, q, q * (1.0 - delta))
        return w2[idx[cells]] * np.asarray(slope, dtype=np.float64)

    everyone = np.arange(idx.size)
    deltas = _DELTA_GRID if activation.closed_form else _FINE_DELTA_GRID
    grid = np.broadcast_to(deltas, (idx.size, deltas.size))

    def scan(cells: IntArray) -> FloatArray:
        return excess(grid[cells], cells)

    k = _by_cell(scan, everyone, deltas.size)
    beyond = np.isnan(k[:, 0])
    status[idx[beyond]] = C_NUMERICAL
    # k crossing from + to − as δ grows: f crosses the diagonal from above, a stable point;
    # the first one (largest c) is where every c between it and 1 flows to.
    crossing = (k[:, :-1] >= 0.0) & (k[:, 1:] <= 0.0) & ~((k[:, :-1] == 0.0) & (k[:, 1:] == 0.0))
    status[idx[~crossing.any(axis=1) & ~beyond]] = C_UNRESOLVED
    # Rounding noise in k can fake a crossing next to δ = 0 (where f' ≈ χ₁ > 1): solve the
    # crossings in order of δ until one is stable.
    tried = np.full(idx.size, -1)
    pending = everyone[crossing.any(axis=1)]
    while pending.size:
        later = crossing[pending] & (np.arange(crossing.shape[1]) > tried[pending, None])
        has_next = later.any(axis=1)
        status[idx[pending[~has_next]]] = C_UNSTABLE
        pending = pending[has_next]
        if pending.size == 0:
            break
        first = np.argmax(later[has_next], axis=1)
        tried[pending] = first
        members = pending

        bracket = (
            deltas[first],
            deltas[first + 1],
            k[members, first],
            k[members, first + 1],
        )
        if activation.closed_form:  # cost per point: Newton with the exact slope f' − 1

            def k_and_slope(
                delta: FloatArray, cells: IntArray, members: IntArray = members
            ) -> tuple[FloatArray, FloatArray]:
                return excess(delta, members[cells]), f_prime(delta, members[cells]) - 1.0

            delta, converged, its, res = bracketed_newton(k_and_slope, *bracket, lambda d: d)
        else:  # cost per distinct q*: many points per call

            def k_at(
                points: FloatArray, cells: IntArray, members: IntArray = members
            ) -> FloatArray:
                return excess(points, members[cells])

            delta, converged, its, res = zoom_root(k_at, *bracket, lambda d: d)
        cells = idx[members]
        iterations[cells] += its
        residual[cells] = res

        def slope_at(
            part: IntArray, delta: FloatArray = delta, members: IntArray = members
        ) -> FloatArray:
            return f_prime(delta[part], members[part])

        slope = _by_cell(slope_at, np.arange(members.size), None)
        status[cells[np.isnan(slope)]] = C_NUMERICAL
        stable = converged & (np.abs(slope) < 1.0)
        ok = cells[stable]
        c_star[ok], status[ok], chi_c[ok] = 1.0 - delta[stable], C_FOUND, slope[stable]
        status[cells[~converged & ~np.isnan(slope)]] = C_FAILED
        pending = members[converged & (np.abs(slope) >= 1.0)]
    return c_star, status, iterations, residual, chi_c


def _by_cell(
    evaluate: Callable[[IntArray], FloatArray], cells: IntArray, width: int | None
) -> FloatArray:
    """evaluate(cells) for all cells at once; where a quadrature raises NumericalError for
    some, cell by cell, with NaN rows for those beyond its reach. ``width``: trailing axis."""
    try:
        return evaluate(cells)
    except NumericalError:
        out = np.full((cells.size,) if width is None else (cells.size, width), np.nan)
        for i in range(cells.size):
            with contextlib.suppress(NumericalError):
                out[i] = evaluate(cells[i : i + 1])[0]
        return out


# ---------------------------------------------------------------------------------------
# A vectorised root search that evaluates many points per call

_ZOOM_UNIFORM = np.arange(1, 16) / 16.0
_ZOOM_LADDER = 10.0 ** -np.arange(1.0, 15.0)


def zoom_root(
    evaluate: Callable[[FloatArray, IntArray], FloatArray],
    lo: FloatArray,
    hi: FloatArray,
    lo_value: FloatArray,
    hi_value: FloatArray,
    scale: Callable[[FloatArray], FloatArray],
) -> tuple[FloatArray, BoolArray, IntArray, FloatArray]:
    """Per cell, the first root in [lo, hi] of a function ≥ 0 at lo and ≤ 0 at hi.

    For maps whose cost is per cell, not per point (quadrature activations: Hermite
    coefficients per distinct q*), each call ``evaluate(points [cells, P], cells)`` takes
    15 points spread over the bracket plus a ladder at 10⁻¹ … 10⁻¹⁴ bracket widths either
    side of the secant point; the new bracket is the first sign change among them. That
    shrinks it at least 16-fold per call, and quadratically (like the secant method) near a
    simple root. Converged: |value| ≤ 8 eps · scale(x) or a bracket a few ulp wide.
    Returns the better end of the last bracket, converged, calls and |value| there.
    """
    lo, hi = lo.astype(np.float64, copy=True), hi.astype(np.float64, copy=True)
    lo_value = lo_value.astype(np.float64, copy=True)
    hi_value = hi_value.astype(np.float64, copy=True)
    n = lo.size
    converged = np.zeros(n, dtype=bool)
    calls = np.zeros(n, dtype=np.int64)
    active = np.arange(n)
    for _ in range(MAX_ITERATIONS):
        low, high = lo[active, None], hi[active, None]
        width = high - low
        spread = lo_value[active] - hi_value[active]
        usable = np.isfinite(spread) & (spread > 0.0)
        fraction = np.divide(lo_value[active], spread, out=np.full(active.size, 0.5), where=usable)
        centre = low + np.clip(fraction, 0.0, 1.0)[:, None] * width
        ladder = width * _ZOOM_LADDER
        points = np.concatenate(
            [low + width * _ZOOM_UNIFORM, centre - ladder, centre, centre + ladder], axis=1
        )
        points = np.clip(points, low, high)
        values = evaluate(points, active)
        calls[active] += 1
        x = np.concatenate([low, points, high], axis=1)
        v = np.concatenate([lo_value[active, None], values, hi_value[active, None]], axis=1)
        order = np.argsort(x, axis=1, kind="stable")
        x, v = np.take_along_axis(x, order, axis=1), np.take_along_axis(v, order, axis=1)
        sign_change = (
            (v[:, :-1] >= 0.0) & (v[:, 1:] <= 0.0) & ~((v[:, :-1] == 0.0) & (v[:, 1:] == 0.0))
        )
        j = np.argmax(sign_change, axis=1)
        rows = np.arange(active.size)
        lo[active], hi[active] = x[rows, j], x[rows, j + 1]
        lo_value[active], hi_value[active] = v[rows, j], v[rows, j + 1]
        best = np.where(np.abs(v[rows, j]) <= np.abs(v[rows, j + 1]), x[rows, j], x[rows, j + 1])
        magnitude = np.minimum(np.abs(v[rows, j]), np.abs(v[rows, j + 1]))
        narrow = x[rows, j + 1] - x[rows, j] <= 4 * _EPS * np.abs(x[rows, j + 1])
        done = (magnitude <= 8 * _EPS * scale(best)) | narrow | ~sign_change.any(axis=1)
        converged[active[done]] = sign_change.any(axis=1)[done]
        active = active[~done]
        if active.size == 0:
            break
    take_lo = np.abs(lo_value) <= np.abs(hi_value)
    root = np.where(take_lo, lo, hi)
    residual = np.where(take_lo, np.abs(lo_value), np.abs(hi_value))
    return root, converged, calls, residual


# ---------------------------------------------------------------------------------------
# A vectorised bracketed Newton iteration


def bracketed_newton(
    value_and_slope: Callable[[FloatArray, IntArray], tuple[FloatArray, FloatArray]],
    lo: FloatArray,
    hi: FloatArray,
    lo_value: FloatArray,
    hi_value: FloatArray,
    scale: Callable[[FloatArray], FloatArray],
) -> tuple[FloatArray, BoolArray, IntArray, FloatArray]:
    """Per cell, a root of a function with values ``lo_value`` ≥ 0 at ``lo`` and
    ``hi_value`` ≤ 0 at ``hi`` (lo < hi); ``value_and_slope(x, cells)`` evaluates it.

    Newton steps that stay inside the shrinking bracket and at least halve |value|; else
    the secant point of the bracket when it lies well inside, else bisection (geometric
    when the bracket spans more than a factor 4 of positive numbers). A cell converges
    when |value| ≤ 8 eps · scale(x) or the bracket is a few ulp wide. Returns the last
    evaluated x, converged, iterations and |value| there.
    """
    lo = lo.astype(np.float64, copy=True)
    hi = hi.astype(np.float64, copy=True)
    lo_value = lo_value.astype(np.float64, copy=True)
    hi_value = hi_value.astype(np.float64, copy=True)
    n = lo.size
    x = _fallback(lo, hi, lo_value, hi_value)
    last = x.copy()
    previous = np.full(n, np.inf)
    converged = np.zeros(n, dtype=bool)
    iterations = np.zeros(n, dtype=np.int64)
    residual = np.full(n, np.nan)
    active = np.arange(n)
    for _ in range(MAX_ITERATIONS):
        xa = x[active]
        value, slope = value_and_slope(xa, active)
        last[active] = xa
        iterations[active] += 1
        magnitude = np.abs(value)
        residual[active] = magnitude
        above, below = value > 0.0, value < 0.0
        lo_a = np.where(above, xa, lo[active])
        hi_a = np.where(below, xa, hi[active])
        lo_v = np.where(above, value, lo_value[active])
        hi_v = np.where(below, value, hi_value[active])
        lo[active], hi[active], lo_value[active], hi_value[active] = lo_a, hi_a, lo_v, hi_v
        width = np.maximum(np.abs(lo_a), np.abs(hi_a))
        done = (magnitude <= 8 * _EPS * scale(xa)) | (hi_a - lo_a <= 4 * _EPS * width)
        converged[active[done]] = True
        usable = np.isfinite(slope) & (slope != 0.0)
        step = np.divide(value, slope, out=np.zeros_like(value), where=usable)
        newton = xa - step
        accept = usable & (newton > lo_a) & (newton < hi_a) & (magnitude <= 0.5 * previous[active])
        previous[active] = magnitude
        x[active] = np.where(accept, newton, _fallback(lo_a, hi_a, lo_v, hi_v))
        active = active[~done]
        if active.size == 0:
            break
    return last, converged, iterations, residual


def _fallback(
    lo: FloatArray, hi: FloatArray, lo_value: FloatArray, hi_value: FloatArray
) -> FloatArray:
    """The bracket's secant point if it lies in its middle 90 %, else its midpoint."""
    spread = lo_value - hi_value
    usable = np.isfinite(spread) & (spread > 0.0)
    fraction = np.divide(lo_value, spread, out=np.full_like(spread, 0.5), where=usable)
    secant = lo + fraction * (hi - lo)
    inside = usable & (fraction > 0.05) & (fraction < 0.95)
    return np.where(inside, secant, _midpoint(lo, hi))


def _midpoint(lo: FloatArray, hi: FloatArray) -> FloatArray:
    geometric = (lo > 0.0) & (hi > 4.0 * lo)
    return np.where(geometric, np.sqrt(np.abs(lo)) * np.sqrt(np.abs(hi)), 0.5 * (lo + hi))


# ---------------------------------------------------------------------------------------
# One cell as a FixedPoints with its notes


def _optional(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def describe(activation: Activation) -> str:
    """``relu`` or ``leaky_relu(alpha=0.1)``: the activation as the notes name it."""
    params = getattr(activation, "params", None) or {}
    if not params:
        return str(activation.name)
    inner = ", ".join(f"{key}={value:g}" for key, value in params.items())
    return f"{activation.name}({inner})"


def _cell(activation: Activation, a: MeanFieldArrays, i: int) -> FixedPoints:
    name = describe(activation)
    w2, b2 = float(a.sigma_w2[i]), float(a.sigma_b2[i])
    where = f"{name} with σ_w² = {w2:g}, σ_b² = {b2:g}"
    notes: list[str] = []
    q_status, phase_code, c_status = int(a.q_status[i]), int(a.phase[i]), int(a.c_status[i])
    chi_1 = _optional(a.chi_1[i])

    q_report = _q_report(a, i, q_status)
    if q_status == Q_DIVERGES:
        notes.append(
            f"q* does not exist: for {where} the length map q ↦ σ_w² V(q) + σ_b² stays above q "
            f"(checked up to q = {Q_CAP:g}), so q grows without bound"
        )
    elif q_status == Q_EVERY:
        notes.append(
            f"q* is not determined: for {where} the length map is the identity, every q is a "
            "fixed point and q^l keeps the value of the input layer"
        )
    elif q_status == Q_FAILED:
        notes.append(f"q* was not found: {q_report.message}")
    elif q_status == Q_ZERO:
        notes.append(
            "q* = 0: with σ_b² = 0 the length map contracts every q to 0 "
            "(the layers become linear, φ(x) ≈ φ'(0) x, as q^l → 0)"
        )
    if q_status in (Q_DIVERGES, Q_EVERY) and chi_1 is not None:
        notes.append(
            f"χ₁ = σ_w² E[φ'(√q z)²] does not depend on q for {name} (positively "
            "homogeneous), so χ₁ and the phase are defined without q*"
        )
    if chi_1 is None and q_status != Q_FOUND and q_status != Q_ZERO:
        notes.append(f"χ₁ and the phase are not defined: χ₁ depends on q* for {name}")

    c_report = _c_report(a, i, c_status)
    if c_status == C_NO_Q:
        notes.append("c* and χ_c* are not defined without q*: the correlation map needs it")
    elif c_status == C_Q_ZERO:
        notes.append(
            "c* and χ_c* are not defined at q* = 0: f(c) = (σ_w² E[φ(u)φ(v)] + σ_b²)/q* is "
            "0/0, and c^l settles at an input-dependent value instead of a fixed point"
        )
    elif c_status in (C_UNRESOLVED, C_UNSTABLE, C_FAILED):
        notes.append(f"c* was not found: {c_report.message}")
    elif c_status == C_NUMERICAL:
        notes.append(
            f"c* and χ_c* could not be computed: the quadrature of E[φ(u)φ(v)] for {name} "
            f"does not reach 1e-15 at q* = {a.q_star[i]:.6g} (smaller σ_w², σ_b² give smaller q*)"
        )

    if phase_code == CRITICAL:
        notes.append(
            f"critical: |χ₁ − 1| ≤ {CRITICAL_TOLERANCE:g}; ξ₁ and ξ_c* are infinite on the "
            "critical line"
        )
    elif phase_code == CHAOTIC:
        notes.append(
            "ξ₁ = −1/ln χ₁ is defined only for χ₁ < 1: in the chaotic phase perturbations of "
            "c = 1 grow by χ₁ per layer"
        )
    if phase_code != ORDERED:
        notes.append(
            "p* exists only in the ordered phase (elsewhere the NTK diagonal grows without "
            "bound, like χ₁^l or l)"
        )
    elif q_status == Q_ZERO:
        notes.append("p* = 0: with q* = 0 the NTK decays to 0 as well")
    if phase_code != CHAOTIC:
        notes.append("p*_ab exists only in the chaotic phase; in the ordered phase Θ → p* 11ᵀ")
    elif math.isnan(a.p_ab_star[i]):
        notes.append("p*_ab is not defined without c*")
    xi_q = _optional(a.xi_q[i])
    if xi_q is None and math.isfinite(a.slope_q[i]):
        notes.append(
            f"ξ_q is not defined: the length map's slope at q* is {a.slope_q[i]:.6g}, so q^l "
            "does not approach q* geometrically"
        )
    if math.isfinite(a.slope_q[i]) and a.slope_q[i] < 0.0:
        notes.append("the length map's slope at q* is negative: q^l oscillates about q*")
    if math.isfinite(a.chi_c_star[i]) and a.chi_c_star[i] < 0.0:
        notes.append("χ_c* < 0: c^l oscillates about c*; ξ_c* uses |χ_c*|")

    return FixedPoints(
        q_star=_optional(a.q_star[i]),
        chi_1=chi_1,
        c_star=_optional(a.c_star[i]),
        chi_c_star=_optional(a.chi_c_star[i]),
        xi_1=_optional(a.xi_1[i]),
        xi_c_star=_optional(a.xi_c_star[i]),
        xi_q=xi_q,
        phase=PHASE_LABELS[phase_code] if phase_code != UNDEFINED else None,
        p_star=_optional(a.p_star[i]),
        p_ab_star=_optional(a.p_ab_star[i]),
        notes=notes,
        q_convergence=q_report,
        c_convergence=c_report,
    )


def _q_report(a: MeanFieldArrays, i: int, status: int) -> RootReport:
    iterations = int(a.q_iterations[i])
    residual = _optional(a.q_residual[i])
    messages = {
        Q_FOUND: "bracketed Newton iteration on L(q) − q converged",
        Q_ZERO: "q* = 0: L(q) < q for every q > 0 probed and L(0) = 0",
        Q_DIVERGES: f"no fixed point: L(q) > q for every q probed up to {Q_CAP:g}",
        Q_EVERY: "every q is a fixed point: L(q) = q to float64 precision",
        Q_FAILED: f"no convergence within {MAX_ITERATIONS} iterations",
    }
    converged = status in (Q_FOUND, Q_ZERO)
    return RootReport(converged, iterations, residual, messages[status])


def _c_report(a: MeanFieldArrays, i: int, status: int) -> RootReport:
    iterations = int(a.c_iterations[i])
    residual = _optional(a.c_residual[i])
    messages = {
        C_ONE: "c* = 1: f(1) = 1 and f'(1) = χ₁ ≤ 1 (marginally so on the critical line)",
        C_FOUND: "bracketed Newton iteration on f(c) − c converged to a stable fixed point",
        C_NO_Q: "not attempted: q* does not exist",
        C_Q_ZERO: "not attempted: q* = 0",
        C_UNRESOLVED: "no stable fixed point of f resolved on [−1, 1 − 1e-16]",
        C_UNSTABLE: "every fixed point of f bracketed below 1 has |f'(c)| ≥ 1: none attracts",
        C_FAILED: f"no convergence within {MAX_ITERATIONS} iterations",
        C_NUMERICAL: "not attempted: the correlation map's quadrature fails at this q*",
    }
    converged = status in (C_ONE, C_FOUND)
    return RootReport(converged, iterations, residual, messages[status])
