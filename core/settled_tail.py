"""Layers past the snap of Σ's diagonal, tabulated once for all pairs (erf, compiled loop).

Once every point's Σ_aa has snapped to one value (layer l0 of :mod:`core.entry_loop`;
the map q ↦ σ_w² V(q) + σ_b² drives all norms to its fixed point), every pair's Σ deficit
follows one 1-D map, layer by layer: E_Σ^L = F_Σ(δ) with δ = E_Σ^{l0}/Σ_aa^{l0} its cosine
deficit at l0. Θ is affine in its layer-l0 values, Θ^L_ab = A_L(δ) + B_L(δ)·Θ^{l0}_ab, and the
diagonals follow with δ = 0, Θ^L_aa = A₀ + B₀·x_a (x_a = Θ^{l0}_aa). In deviation form, with
ΔA = A₀ − A(δ) ≥ 0, ΔB = B₀ − B(δ) ≥ 0, X = √(x_a x_b) and e = E_Θ^{l0},

    E_Θ^L = M + ΔA + ΔB·X + (B₀ − ΔB)·e,
    M = √(Θ^L_aaΘ^L_bb) − A₀ − B₀X = A₀B₀(√x_a − √x_b)² / (√(Θ^L_aaΘ^L_bb) + A₀ + B₀X),

every term ≥ 0. ΔA and ΔB follow the Θ deficit recursion of :func:`core.entry_loop._step`
(ΔA: Θ^{l0} = 0; ΔB: without the Σ term, Θ^{l0}_aa = 1), each with its own exponent.

F ∈ {F_Σ, ΔA, ΔB} are tabulated per requested depth as y_F = ln(F(δ)/N_F(δ)), N_F =
k_F δ/(1 + k_F δ/c_F) with k_F the slope of F at δ → 0 (the recursion's linear regime,
run at δ = 2^-1060) and c_F = F(2), so that y_F = O(1) even where F saturates (chaotic
phase: k_F ~ χ^L) and ln's rounding of large exponents stays out of it; piecewise
Chebyshev in v = ln θ + θ (θ = arccos(1 − δ)) on [θ_lin, π] as in :mod:`core.equal_norm`,
checked at two extra points per panel to CHECK_TOL. Below δ_lin = 2^-70 / max(1, growth of
δ along the layers) the recursion is linear to 1e-21 per layer: F = k_F δ there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from core.activations.base import Array
from core.entry_loop import (
    F_Q,
    F_RG,
    F_SD,
    F_SP,
    KIND_ERF,
    LINEAR_BELOW,
    SMALLEST_NONLINEAR,
    TAIL_FUNCTIONS,
    Integers,
    _add,
    _erf_deficits,
    _shift,
    _slopes,
)
from core.equal_norm import DEGREE, _clenshaw_at, _fit, _theta_of, panel_nodes

#: the recursion counts as linear below this growth-adjusted cosine deficit
LINEAR_DELTA = 2.0**-70
#: no tail below this δ_lin (the tables would need too many panels)
SMALLEST_LINEAR_DELTA = 2.0**-900
#: panel width in v aimed at first, then halved until the checks pass
PANEL_WIDTHS = (0.8, 0.4, 0.2)
#: largest disagreement allowed between the interpolant and the recursion (in ln F)
CHECK_TOL = 1e-12
#: the linear run starts at cosine deficit 2^PROBE_EXPONENT
PROBE_EXPONENT = -1060


@dataclass(frozen=True)
class Tail:
    """The tables of the layers after ``layer`` (l0) for the requested ``depths`` past it.

    ``coef`` [depths, TAIL_FUNCTIONS, panels, DEGREE]; ``slope_m``, ``slope_x`` [depths,
    TAIL_FUNCTIONS]: k_F (per unit δ) as mantissa and exponent; ``cap_m``, ``cap_x``: c_F =
    F(δ = 2), likewise; ``diagonal`` [depths, 2]:
    (A₀, B₀ mantissa), ``diagonal_x`` [depths]: B₀'s exponent; ``grid`` [4]: (v_lo, panel
    width, δ_lin, Σ_aa at l0).
    """

    layer: int
    depths: Integers
    coef: Array
    slope_m: Array
    slope_x: Integers
    cap_m: Array
    cap_x: Integers
    diagonal: Array
    diagonal_x: Integers
    grid: Array


@numba.njit(cache=True)
def _tail_layers(
    rows: Array,
    bias: Array,
    sigma_shift: Integers,
    theta_shift: Integers,
    rescale: Integers,
    w2: float,
    start: int,
    depth: int,
    depths: Integers,
    delta_m: Array,
    delta_x: Integers,
) -> tuple[Array, Integers, Array, Integers, float]:
    """Run F_Σ, ΔA, ΔB from layer ``start`` (cosine deficits δ = delta_m·2^delta_x) to
    ``depth``; ``rows`` [depth, FIELDS]: the common table rows (only their Σ fields and
    √(σ_w²W) are used). Returns (F mantissas [depths, points, 3], exponents, (A₀, B₀
    mantissa) [depths, 2], B₀ exponents [depths], growth: max over layers of δ_l/δ of
    point 0 (linear runs))."""
    count = delta_m.size
    wanted = depths.size
    out_m = np.zeros((wanted, count, TAIL_FUNCTIONS))
    out_x = np.zeros((wanted, count, TAIL_FUNCTIONS), np.int64)
    diagonal = np.zeros((wanted, 2))
    diagonal_x = np.zeros(wanted, np.int64)
    growth = 1.0
    no_fields = np.zeros((1, 1))
    for p in range(count):
        row = rows[start]
        root = row[F_RG] * row[F_RG]
        es, xs = delta_m[p] * root, delta_x[p]
        am, ax, bm, bx = 0.0, 0, 0.0, 0
        a0, b0m, b0x = 0.0, 1.0, 0
        slot = 0
        for layer in range(start, depth + 1):
            if slot < wanted and layer == depths[slot]:
                out_m[slot, p, 0], out_x[slot, p, 0] = es, xs
                out_m[slot, p, 1], out_x[slot, p, 1] = am, ax
                out_m[slot, p, 2], out_x[slot, p, 2] = bm, bx
                diagonal[slot, 0], diagonal[slot, 1], diagonal_x[slot] = a0, b0m, b0x
                slot += 1
            if layer == depth:
                break
            row = rows[layer]
            root = row[F_RG] * row[F_RG]
            q = row[F_Q]
            fs, ft = sigma_shift[layer], theta_shift[layer]
            scaled = es / root if root > 0.0 else 0.0
            if p == 0 and es > 0.0:
                growth = max(growth, math.ldexp(scaled, xs - delta_x[0]) / delta_m[0])
            if xs == 0:
                linear = 0.0 < scaled < SMALLEST_NONLINEAR
            else:
                linear = es > 0.0 and xs + math.frexp(scaled)[1] < LINEAR_BELOW
            if not linear:
                d = min(max(_shift(scaled, xs), 0.0), 2.0)
                # equal variances: no mismatch fields are read
                d_phi, d_dphi = _erf_deficits(row, row, no_fields, 0, 0, 0, 0, d)
                s_m, s_x = w2 * d_phi, 0
                dphi_m, dphi_x = w2 * d_dphi, 0
            else:
                slope, rise = _slopes(KIND_ERF, 0.0, 0.0, q, q, root)
                s_m, s_x = w2 * slope * scaled, xs
                dphi_m, dphi_x = w2 * rise * scaled, xs
            dot_root = row[F_SD] * row[F_SD]
            shift_t = rescale[layer + 1, 1]
            # ΔA' = E_Σ'·2^fs + √(Σ̇Σ̇)·ΔA·2^ft + (A₀ − ΔA)·Ḋ·2^ft
            value_a = a0 - _shift(am, ax)
            t_m, t_x = _add(s_m, s_x + fs, dot_root * am, ax + ft)
            t_m, t_x = _add(t_m, t_x, value_a * dphi_m, dphi_x + ft)
            # ΔB' = √(Σ̇Σ̇)·ΔB·2^ft + (B₀ − ΔB)·Ḋ·2^ft
            value_b = b0m - _shift(bm, bx - b0x)
            u_m, u_x = _add(dot_root * bm, bx + ft, value_b * dphi_m, b0x + dphi_x + ft)
            am, ax = t_m, t_x - shift_t
            bm, bx = u_m, u_x - shift_t
            a0 = math.ldexp(row[F_SP] * row[F_SP] + dot_root * math.ldexp(a0, ft), -shift_t)
            b0m, b0x = _add(dot_root * b0m, b0x + ft - shift_t, 0.0, 0)
            es, xs = s_m, s_x
    return out_m, out_x, diagonal, diagonal_x, growth


def _normaliser(
    slope_m: Array, slope_x: Integers, delta: Array, cap_m: Array, cap_x: Integers
) -> tuple[Array, Array]:
    """N = kδ/(1 + kδ/c) as (mantissa, exponent), k = slope_m·2^slope_x, c = cap_m·2^cap_x
    (as core.entry_loop._tail_entries forms it): F/N stays O(1) from δ_lin to 2."""
    r_m = slope_m * delta / cap_m
    r_x = slope_x - cap_x
    top = np.maximum(0, r_x + np.frexp(r_m)[1])
    one_plus = np.ldexp(1.0, -top) + np.ldexp(r_m, r_x - top)
    return slope_m * delta / one_plus, slope_x - top


def settled_tail(
    rows: Array,
    bias: Array,
    sigma_shift: Integers,
    theta_shift: Integers,
    rescale: Integers,
    w2: float,
    start: int,
    depth: int,
    depths: Integers,
) -> Tail | None:
    """The tables for the layers ``start`` … ``depth`` (requested ``depths`` >
    ``start``), or None if they cannot be made to CHECK_TOL."""
    probe = (np.ones(1), np.array([PROBE_EXPONENT], np.int64))
    lin_m, lin_x, diagonal, diagonal_x, growth = _tail_layers(
        rows, bias, sigma_shift, theta_shift, rescale, w2, start, depth, depths, *probe
    )
    if not np.all(lin_m > 0.0) or growth > 2.0**400:
        return None
    slope_m = lin_m[:, 0, :]
    slope_x = lin_x[:, 0, :] - PROBE_EXPONENT
    delta_lin = LINEAR_DELTA / max(growth, 1.0)
    if delta_lin < SMALLEST_LINEAR_DELTA:
        return None
    theta_lin = 2.0 * math.asin(math.sqrt(0.5 * delta_lin))
    v_lo, v_hi = math.log(theta_lin) + theta_lin, math.log(math.pi) + math.pi
    for aim in PANEL_WIDTHS:
        panels = max(1, math.ceil((v_hi - v_lo) / aim))
        width = (v_hi - v_lo) / panels
        nodes, checks = panel_nodes(v_lo, width, panels)
        theta = _theta_of(np.concatenate([nodes, checks]))
        delta = np.append(2.0 * np.sin(0.5 * theta) ** 2, 2.0)  # the last: δ = 2, the cap
        f_m, f_x, _, _, _ = _tail_layers(
            rows,
            bias,
            sigma_shift,
            theta_shift,
            rescale,
            w2,
            start,
            depth,
            depths,
            delta,
            np.zeros(delta.size, np.int64),
        )
        if not np.all(f_m > 0.0):
            return None
        cap_m, cap_x = f_m[:, -1, :], f_x[:, -1, :]  # [depths, functions]
        # y = ln(F/N) [depths, points, functions], N = kδ/(1 + kδ/c), exponents apart
        n_m, n_x = _normaliser(
            slope_m[:, None, :],
            slope_x[:, None, :],
            delta[None, :, None],
            cap_m[:, None, :],
            cap_x[:, None, :],
        )
        y = np.log(f_m / n_m) + (f_x - n_x) * math.log(2.0)
        coef = np.empty((depths.size, slope_m.shape[1], panels, DEGREE))
        worst = 0.0
        for s in range(depths.size):
            for f in range(slope_m.shape[1]):
                coef[s, f] = _fit(y[s, : nodes.size, f], panels)
                predicted = _clenshaw_at(coef[s, f], checks, v_lo, width)
                error = np.abs(predicted - y[s, nodes.size : nodes.size + checks.size, f])
                worst = max(worst, float(np.max(error)))
        if worst <= CHECK_TOL:
            return Tail(
                layer=start,
                depths=depths,
                coef=coef,
                slope_m=np.ascontiguousarray(slope_m),
                slope_x=np.ascontiguousarray(slope_x),
                cap_m=np.ascontiguousarray(cap_m),
                cap_x=np.ascontiguousarray(cap_x),
                diagonal=diagonal,
                diagonal_x=diagonal_x,
                grid=np.array([v_lo, width, delta_lin, rows[start, F_Q]]),
            )
    return None
