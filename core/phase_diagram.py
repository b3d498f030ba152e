"""Phase diagrams over (σ_w², σ_b²) and the order-to-chaos critical line (MATH.md §3).

Grids have shape [num_b2, num_w2] (rows: σ_b², columns: σ_w²); every cell is computed by
the same vectorised kernel as :func:`core.fixed_points.fixed_points`, so a cell equals the
scalar result. NaN marks a quantity that does not exist; phase code −1 an undefined phase.

Critical line: χ₁(σ_w², σ_b²) = 1 together with q* = σ_w² V(q*) + σ_b² gives, in terms of
q = q*, σ_w² = 1/W(q) and σ_b² = q − V(q)/W(q) (W(q) = E_z[φ'(√q z)²]): one equation in q
per σ_b², solved by bracketing and bisection. For positively homogeneous φ (relu, leaky
relu, abs, identity) χ₁ = σ_w² W does not depend on q, and the line is σ_w² = 1/W for every
σ_b²: it is the edge of the ordered phase, where q* exists; on and beyond it (σ_b² > 0) the
length map has no fixed point and q grows without bound (linearly on the line).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from core.errors import InvalidInputError
from core.fixed_points import (
    PHASE_LABELS,
    SIGMA2_MAX,
    UNDEFINED,
    FloatArray,
    IntArray,
    bracketed_newton,
    describe,
    is_scale_free,
    solve_chi_1,
    solve_mean_field,
)

if TYPE_CHECKING:
    from core.activations import Activation

CELLS_PER_CHUNK = 40_000
"""Closed-form activations are solved this many cells at a time (bounds memory)."""

MAX_CRITICAL_ROOTS = 4
"""Roots of the critical-line equation tried per σ_b², in ascending q*."""

# q probes for bracketing the critical q at each σ_b²: 0, then one per decade.
_Q_PROBES = np.concatenate([[0.0], np.logspace(-16.0, 110.0, 127)])


@dataclass(frozen=True)
class PhaseDiagram:
    """§3 quantities over a (σ_w², σ_b²) grid; grids [num_b2, num_w2], NaN = does not exist."""

    activation: str
    sigma_w2: FloatArray
    sigma_b2: FloatArray
    chi_1: FloatArray
    chi_c_star: FloatArray
    q_star: FloatArray
    c_star: FloatArray
    xi_c_star: FloatArray
    phase: IntArray  # codes index PHASE_LABELS; -1 where the phase is not defined
    critical_line: FloatArray  # σ_w² on the line at each σ_b² of the axis; NaN: no transition

    def phase_names(self) -> np.ndarray:
        """The phase grid as an object array of "ordered"/"critical"/"chaotic" or None."""
        names = np.array([*PHASE_LABELS, None], dtype=object)
        return names[np.where(self.phase == UNDEFINED, len(PHASE_LABELS), self.phase)]

    def to_dict(self) -> dict[str, Any]:
        """API.md's fields (arrays left as numpy; NaN stands for null)."""
        has_line = np.isfinite(self.critical_line)
        return {
            "activation": self.activation,
            "sigma_w2": self.sigma_w2,
            "sigma_b2": self.sigma_b2,
            "chi_1": self.chi_1,
            "chi_c_star": self.chi_c_star,
            "q_star": self.q_star,
            "c_star": self.c_star,
            "xi_c_star": self.xi_c_star,
            "phase": self.phase_names(),
            "critical_line": {
                "sigma_b2": self.sigma_b2[has_line],
                "sigma_w2": self.critical_line[has_line],
            },
        }


def phase_diagram(
    activation: Activation,
    sigma_w2: FloatArray,
    sigma_b2: FloatArray,
    progress: Callable[[float], None] | None = None,
) -> PhaseDiagram:
    """χ₁, χ_c*, q*, c*, ξ_c* and the phase on the grid σ_b² × σ_w², plus the critical line.

    ``progress(fraction)`` is called after each block of rows (each row for numerical
    activations, whose correlation map is a quadrature); it may raise to cancel.
    """
    w2_axis = _axis(sigma_w2, "sigma_w2", lower_open=True)
    b2_axis = _axis(sigma_b2, "sigma_b2", lower_open=False)
    num_b2, num_w2 = b2_axis.size, w2_axis.size
    shape = (num_b2, num_w2)
    grids = {name: np.full(shape, np.nan) for name in ("chi_1", "chi_c", "q", "c", "xi_c")}
    phase = np.full(shape, UNDEFINED, dtype=np.int64)
    rows_per_chunk = max(1, CELLS_PER_CHUNK // num_w2) if activation.closed_form else 1
    for start in range(0, num_b2, rows_per_chunk):
        rows = slice(start, min(start + rows_per_chunk, num_b2))
        b2, w2 = np.meshgrid(b2_axis[rows], w2_axis, indexing="ij")
        cells = solve_mean_field(activation, w2.ravel(), b2.ravel())
        block = b2.shape
        grids["chi_1"][rows] = cells.chi_1.reshape(block)
        grids["chi_c"][rows] = cells.chi_c_star.reshape(block)
        grids["q"][rows] = cells.q_star.reshape(block)
        grids["c"][rows] = cells.c_star.reshape(block)
        grids["xi_c"][rows] = cells.xi_c_star.reshape(block)
        phase[rows] = cells.phase.reshape(block)
        if progress is not None:
            progress(rows.stop / num_b2)
    return PhaseDiagram(
        activation=describe(activation),
        sigma_w2=w2_axis,
        sigma_b2=b2_axis,
        chi_1=grids["chi_1"],
        chi_c_star=grids["chi_c"],
        q_star=grids["q"],
        c_star=grids["c"],
        xi_c_star=grids["xi_c"],
        phase=phase,
        critical_line=_critical_line(activation, b2_axis),
    )


def critical_line(activation: Activation, sigma_b2: FloatArray) -> FloatArray:
    """σ_w² with χ₁(σ_w², σ_b²) = 1 at each σ_b² (NaN where no transition exists).

    See the module docstring for homogeneous φ (relu: σ_w² = 2 at every σ_b²). Where the
    equation has several roots, the one with the smallest q* that fixed_points() itself
    reaches (from q⁰ = σ_w² + σ_b²) with χ₁ = 1 to 1e-9 is returned.
    """
    return _critical_line(activation, _axis(sigma_b2, "sigma_b2", lower_open=False))


def _critical_line(activation: Activation, b2: FloatArray) -> FloatArray:
    if is_scale_free(activation):
        w = float(np.asarray(activation.derivative_variance(np.array([1.0])))[0])
        return np.full(b2.shape, 1.0 / w)

    def bias_on_line(q: FloatArray) -> FloatArray:
        """σ_b²(q) = q − V(q)/W(q) on the critical line; NaN where W(q) = 0."""
        v = np.asarray(activation.variance(q), dtype=np.float64)
        w = np.asarray(activation.derivative_variance(q), dtype=np.float64)
        usable = np.isfinite(v) & np.isfinite(w) & (w > 0.0)
        out = np.full(q.shape, np.nan)
        out[usable] = q[usable] - v[usable] / w[usable]
        return out

    # Roots of σ_b²(q) = σ_b² in ascending q: exact zeros at probes (even slots of the
    # candidate axis) and sign changes between probes (odd slots). A root counts only if
    # the length map started from q⁰ (as in fixed_points) reaches it there: e.g. gelu at
    # σ_b² = 0 has the root q = 0 at σ_w² = 4, where q^l grows without bound instead.
    excess = b2[:, None] - bias_on_line(_Q_PROBES)[None, :]
    candidates = np.zeros((b2.size, 2 * _Q_PROBES.size - 1), dtype=bool)
    candidates[:, ::2] = excess == 0.0
    candidates[:, 1::2] = excess[:, :-1] * excess[:, 1:] < 0.0
    line = np.full(b2.shape, np.nan)
    tried = np.full(b2.size, -1)
    pending = np.flatnonzero(candidates.any(axis=1))
    for _ in range(MAX_CRITICAL_ROOTS):
        later = candidates[pending] & (np.arange(candidates.shape[1]) > tried[pending, None])
        pending = pending[later.any(axis=1)]
        if pending.size == 0:
            break
        slot = np.argmax(later[later.any(axis=1)], axis=1)
        tried[pending] = slot
        q_line = np.where(slot % 2 == 0, _Q_PROBES[slot // 2], np.nan)
        between = np.flatnonzero(slot % 2 == 1)
        if between.size:
            cells = pending[between]
            below, above = slot[between] // 2, slot[between] // 2 + 1
            orientation = np.sign(excess[cells, below])  # makes the value ≥ 0 at `below`

            def value(
                q: FloatArray,
                part: IntArray,
                cells: IntArray = cells,
                orientation: FloatArray = orientation,
            ) -> tuple[FloatArray, FloatArray]:
                gap = b2[cells[part]] - bias_on_line(q)
                return orientation[part] * gap, np.full(q.shape, np.nan)

            root, converged, _, _ = bracketed_newton(
                value,
                _Q_PROBES[below],
                _Q_PROBES[above],
                orientation * excess[cells, below],
                orientation * excess[cells, above],
                lambda q: q,
            )
            q_line[between] = np.where(converged, root, np.nan)
        solved = np.isfinite(q_line)
        sigma_w2 = np.full(pending.size, np.nan)
        slope = np.asarray(activation.derivative_variance(q_line[solved]), dtype=np.float64)
        sigma_w2[solved] = 1.0 / slope
        valid = solved & np.isfinite(sigma_w2) & (sigma_w2 > 0.0) & (sigma_w2 <= SIGMA2_MAX)
        chi_1 = np.full(pending.size, np.nan)
        chi_1[valid] = solve_chi_1(activation, sigma_w2[valid], b2[pending[valid]])
        accepted = valid & (np.abs(chi_1 - 1.0) <= 1e-9)
        line[pending[accepted]] = sigma_w2[accepted]
        pending = pending[~accepted]
    return line


def _axis(values: FloatArray, name: str, *, lower_open: bool) -> FloatArray:
    """A validated 1-D float64 grid axis (σ_w² > 0 or σ_b² ≥ 0, at most SIGMA2_MAX)."""
    try:
        axis = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name} must be an array of numbers", field=name) from None
    if axis.ndim != 1 or axis.size == 0:
        raise InvalidInputError(
            f"{name} must be a non-empty 1-D array, got shape {axis.shape}", field=name
        )
    low_ok = axis > 0.0 if lower_open else axis >= 0.0
    if not np.all(np.isfinite(axis) & low_ok & (axis <= SIGMA2_MAX)):
        bound = "(0" if lower_open else "[0"
        raise InvalidInputError(
            f"every {name} must be a finite number in {bound}, {SIGMA2_MAX:g}]", field=name
        )
    return axis
