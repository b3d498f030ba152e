"""The equal-norm path: the depth-L kernels as a tabulated function of the input angle.

When every input has the same first-layer variance q₁ = σ_w0²‖x‖²/d₀ + σ_b0² (relative
tolerance 1e-12), every diagonal of every layer is one number and every entry of Σ^L and
Θ^L is a function of the input angle θ₀ = arccos(x·x'/‖x‖‖x'‖) alone — the composed dual
activation (MATH.md §2). The exact deviation-form recursion of :mod:`core.kernels` is run
once on a grid of angles, and each deficit E^L(θ₀) is interpolated, for all n1·n2 pairs,
in the variable v = ln θ₀ + θ₀ as

    y(v) = ln E^L(θ₀) − 2 ln θ₀,

which is smooth on [θ_min, π]: power laws E ∝ θ₀^k (k = 2 for Σ, 1 for the relu NTK) are
linear in ln θ₀, the chaotic-phase boundary layer at θ₀ ~ χ₁^{−L/2} has width O(1) in
ln θ₀, and the + θ₀ term keeps the resolution in θ₀ itself near θ₀ = π. The interpolant
is piecewise Chebyshev (PANELS panels of degree DEGREE, doubled until two extra check
points per panel agree with the recursion to CHECK_TOL in y, i.e. relative in E). Pairs
with 0 < θ₀ < θ_min (near-duplicates) are added to the grid and computed exactly; θ₀ = 0
(equal inputs) has E = 0 exactly. Pairs with |cos θ₀| ≤ COSINE_REACH (most of them for
inputs in many dimensions) are evaluated from E itself as piecewise Chebyshev series in
cos θ₀, fitted to those tables (no arcsine, logarithm or exponential per pair).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numba
import numpy as np

from core import entry_loop
from core.activations.base import Array
from core.deficits import DeviationPart, LayerState, Track
from core.entry_loop import TILE, Integers
from core.network import Network

#: smallest tabulated input angle; below it pairs are computed exactly
THETA_MIN = 1e-9
#: 1 − cos θ_min: pairs with 0 < δ < DELTA_MIN are computed exactly
DELTA_MIN = 2.0 * math.sin(0.5 * THETA_MIN) ** 2
DEGREE = 16
PANELS = (32, 64, 128)
#: largest disagreement allowed between the interpolant and the recursion (in ln E)
CHECK_TOL = 1e-11
#: inputs with |cos θ₀| ≤ COSINE_REACH are evaluated from tables in cos θ₀ itself (no
#: arcsine, logarithm or exponential per pair): COSINE_PANELS panels of COSINE_DEGREE terms,
#: fitted to the ln θ₀ + θ₀ tables above and checked against them to COSINE_CHECK_TOL
#: (relative; E's singularity at cos θ₀ = ±1 is 0.2 away from the panels)
COSINE_REACH = 0.8
COSINE_PANELS = 64
COSINE_DEGREE = 10
COSINE_CHECK_TOL = 1e-12
#: equal first-layer variances within this relative tolerance select this path
EQUAL_NORM_RTOL = 1e-12
#: below this many entries the per-entry recursion is cheaper than the table
MIN_ENTRIES = 4096

Progress = Callable[[float], None] | None


def has_equal_norms(network: Network, x1: Array, x2: Array) -> bool:
    """True when the equal-norm path applies and pays (all first-layer variances equal)."""
    if x1.shape[0] * x2.shape[0] < MIN_ENTRIES:
        return False
    sq = np.concatenate([np.einsum("ij,ij->i", x1, x1), np.einsum("ij,ij->i", x2, x2)])
    if float(np.min(sq)) <= 0.0:
        return False
    return bool(float(np.max(sq)) - float(np.min(sq)) <= EQUAL_NORM_RTOL * float(np.max(sq)))


def _theta_of(v: Array) -> Array:
    """Inverse of v = ln θ + θ (Newton from θ = e^v, monotone convergence)."""
    theta = np.minimum(np.exp(v), math.pi)
    for _ in range(60):
        step = (np.log(theta) + theta - v) / (1.0 / theta + 1.0)
        theta = theta - step
        if np.max(np.abs(step) / theta) < 1e-16:
            break
    return theta


@functools.cache
def _grid_angles(panels: int) -> tuple[Array, Array]:
    """θ₀ at the nodes and check points of :func:`_chebyshev_nodes` (computed once)."""
    nodes, checks, _, _ = _chebyshev_nodes(panels)
    return _theta_of(nodes), _theta_of(checks)


def _chebyshev_nodes(panels: int) -> tuple[Array, Array, float, float]:
    """:func:`panel_nodes` on [ln θ_min + θ_min, ln π + π], with v_lo and the panel width."""
    v_lo, v_hi = math.log(THETA_MIN) + THETA_MIN, math.log(math.pi) + math.pi
    width = (v_hi - v_lo) / panels
    nodes, checks = panel_nodes(v_lo, width, panels)
    return nodes, checks, v_lo, width


def panel_nodes(v_lo: float, width: float, panels: int) -> tuple[Array, Array]:
    """v nodes [panels·DEGREE] (first-kind Chebyshev per panel, ascending) and 2 check
    points per panel (between the first two nodes and at the centre)."""
    k = np.arange(DEGREE)
    x = np.cos(np.pi * (k + 0.5) / DEGREE)[::-1]
    left = v_lo + width * np.arange(panels)
    nodes = (left[:, None] + 0.5 * width * (x[None, :] + 1.0)).ravel()
    between = np.array([0.5 * (x[0] + x[1]), 0.5 * (x[DEGREE // 2 - 1] + x[DEGREE // 2])])
    checks = (left[:, None] + 0.5 * width * (between[None, :] + 1.0)).ravel()
    return nodes, checks


def _fit(values: Array, panels: int, degree: int = DEGREE) -> Array:
    """Chebyshev coefficients [panels, degree] from values at the first-kind nodes."""
    y = values.reshape(panels, degree)[:, ::-1]  # nodes in cos order
    k = np.arange(degree)
    basis = np.cos(np.pi * np.outer(k, k + 0.5) / degree)  # T_j(x_i) = cos(j·acos x_i)
    coef = 2.0 / degree * y @ basis.T
    coef[:, 0] *= 0.5
    return np.ascontiguousarray(coef)


@numba.njit(cache=True)
def _clenshaw(coef: Array, v: float, v_lo: float, width: float) -> float:
    panels = coef.shape[0]
    i = min(max(int((v - v_lo) / width), 0), panels - 1)
    x = 2.0 * (v - v_lo - i * width) / width - 1.0
    b1 = 0.0
    b2 = 0.0
    for j in range(coef.shape[1] - 1, 0, -1):
        b1, b2 = 2.0 * x * b1 - b2 + coef[i, j], b1
    return x * b1 - b2 + coef[i, 0]


@numba.njit(cache=True)
def _clenshaw_at(coef: Array, points: Array, v_lo: float, width: float) -> Array:
    """:func:`_clenshaw` at each of ``points``."""
    out = np.empty(points.size)
    for i in range(points.size):
        out[i] = _clenshaw(coef, points[i], v_lo, width)
    return out


@numba.njit(cache=True)
def _angle(delta: float) -> float:
    """θ₀ = arccos(1 − δ) without the √ε loss near δ = 0 and 2."""
    if delta <= 1.0:
        return 2.0 * math.asin(math.sqrt(0.5 * delta))
    return math.pi - 2.0 * math.asin(math.sqrt(0.5 * max(2.0 - delta, 0.0)))


@numba.njit(cache=True)
def _tiny_deficits(delta: Array, low: float) -> Array:
    """The distinct δ with 0 < δ < ``low``, sorted."""
    found = [0.0]
    for value in delta.ravel():
        if 0.0 < value < low:
            found.append(value)
    return np.unique(np.array(found[1:]))


@numba.njit(parallel=True, cache=True)
def _evaluate(
    delta: Array,
    tiles: Integers,
    same: bool,
    coef: Array,
    v_lo: float,
    width: float,
    low: float,
    tiny: Array,
    tiny_values: Array,
    roots: Array,
    factors: Array,
    dense: bool,
    cosine_coef: Array,
) -> Array:
    """[depths, 2, n1, n2]: E(θ₀) = exp(y(ln θ₀ + θ₀) + 2 ln θ₀) for every table in ``coef``
    [depths, 2, panels, DEGREE] (0 at δ = 0, the exact ``tiny_values`` for 0 < δ < ``low``);
    with ``dense`` the kernel roots − factors·E instead. ``tiles``: blocks of the pair loop
    (:func:`core.entry_loop.tiles`); ``same``: only a ≤ b, mirrored. ``cosine_coef``
    [depths, 2, COSINE_PANELS, COSINE_DEGREE] (or empty): E as Chebyshev series in cos θ₀ on
    [−COSINE_REACH, COSINE_REACH], used there."""
    n1, n2 = delta.shape
    depths, _, panels, degree = coef.shape
    fast = cosine_coef.shape[0] == depths
    cosine_width = 2.0 * COSINE_REACH / COSINE_PANELS
    out = np.empty((depths, 2, n1, n2))
    for k in numba.prange(tiles.shape[0]):
        row, column = tiles[k, 0], tiles[k, 1]
        for a in range(row, min(row + TILE, n1)):
            for b in range(max(a, column) if same else column, min(column + TILE, n2)):
                d = delta[a, b]
                c = 1.0 - d
                if fast and abs(c) <= COSINE_REACH:
                    panel = min(int((c + COSINE_REACH) / cosine_width), COSINE_PANELS - 1)
                    x2 = 2.0 * (
                        2.0 * (c + COSINE_REACH - panel * cosine_width) / cosine_width - 1.0
                    )
                    for layer in range(depths):
                        table = cosine_coef[layer]
                        b1 = b2 = c1 = c2 = 0.0
                        for j in range(cosine_coef.shape[3] - 1, 0, -1):
                            b1, b2 = x2 * b1 - b2 + table[0, panel, j], b1
                            c1, c2 = x2 * c1 - c2 + table[1, panel, j], c1
                        e0 = 0.5 * x2 * b1 - b2 + table[0, panel, 0]
                        e1 = 0.5 * x2 * c1 - c2 + table[1, panel, 0]
                        _store(out, layer, a, b, e0, e1, same, dense, roots, factors)
                    continue
                theta = _angle(d)
                u = math.log(theta) if theta > 0.0 else 0.0
                index = -1
                if 0.0 < d < low:
                    index = np.searchsorted(tiny, d)
                v = u + theta
                panel = min(max(int((v - v_lo) / width), 0), panels - 1)
                x2 = 2.0 * (2.0 * (v - v_lo - panel * width) / width - 1.0)
                for layer in range(depths):
                    if theta == 0.0:
                        e0 = e1 = 0.0
                    elif index >= 0:
                        e0 = tiny_values[layer, 0, index]
                        e1 = tiny_values[layer, 1, index]
                    else:  # Clenshaw (as _clenshaw), both kernels in one loop
                        table = coef[layer]
                        b1 = b2 = c1 = c2 = 0.0
                        for j in range(degree - 1, 0, -1):
                            b1, b2 = x2 * b1 - b2 + table[0, panel, j], b1
                            c1, c2 = x2 * c1 - c2 + table[1, panel, j], c1
                        e0 = math.exp(0.5 * x2 * b1 - b2 + table[0, panel, 0] + 2.0 * u)
                        e1 = math.exp(0.5 * x2 * c1 - c2 + table[1, panel, 0] + 2.0 * u)
                    _store(out, layer, a, b, e0, e1, same, dense, roots, factors)
    return out


@numba.njit(inline="always")
def _store(
    out: Array,
    layer: int,
    a: int,
    b: int,
    e0: float,
    e1: float,
    same: bool,
    dense: bool,
    roots: Array,
    factors: Array,
) -> None:
    """Write the deficits (e0, e1) of entry (a, b) at ``layer`` (with ``dense``: the kernels
    roots − factors·E), and (b, a) with ``same``."""
    if dense:
        e0 = roots[layer, 0] - factors[layer, 0] * e0
        e1 = roots[layer, 1] - factors[layer, 1] * e1
    out[layer, 0, a, b] = e0
    out[layer, 1, a, b] = e1
    if same:
        out[layer, 0, b, a] = e0
        out[layer, 1, b, a] = e1


def equal_norm_evaluation(
    network: Network,
    x1: Array,
    x2: Array,
    same: bool,
    depths: list[int],
    progress: Progress,
    dense: bool,
) -> tuple[list[LayerState], Array | None, str]:
    """The tabulated composed dual at ``depths``.

    Returns (states, values, method): ``values`` [depths, 2 (nngp, ntk), n1, n2] holds the
    deficits (the states' ``deficit`` arrays are views of it), or with ``dense`` the kernels
    K/10^s (the states' deficits are then empty). If no table converges: the per-entry
    states and ``values`` None.
    """
    from core.kernels import _per_entry_states, input_cosine_deficits, run_layers

    delta = input_cosine_deficits(x1, x2, same)
    tiny_delta = _tiny_deficits(delta, DELTA_MIN)
    tiny = 2.0 * np.arcsin(np.sqrt(0.5 * tiny_delta))
    d = x1.shape[1]
    sq = float(np.mean(np.einsum("ij,ij->i", x1, x1)))
    a = network.first_sigma_w2 * sq / d
    q = a + network.first_sigma_b2
    compiled = entry_loop.supported(network, 2, depths[-1])
    for panels in PANELS:
        nodes, checks, v_lo, width = _chebyshev_nodes(panels)
        grid_theta = np.concatenate([*_grid_angles(panels), tiny])
        grid_delta = 2.0 * np.sin(0.5 * grid_theta) ** 2
        if compiled:
            grid_states = entry_loop.entry_states(
                network, np.array([a]), None, grid_delta[None, :], False, depths, progress
            )
        else:
            sigma = Track(np.array([q]), np.full(grid_theta.size, q), a * grid_delta[None, :], 0, 0)
            sigma.normalise(diagonal=False)
            theta_track = Track(sigma.g1.copy(), sigma.g2.copy(), sigma.e.copy(), 0, sigma.t)
            grid_states = run_layers(network, sigma, theta_track, depths, progress)
        fitted = _tables(grid_states, nodes, checks, v_lo, width)
        if fitted is not None:
            break
        if progress is not None:
            progress(0.0)
    else:
        states = _per_entry_states(network, x1, x2, same, depths, progress)
        return states, None, "exact per-entry recursion (equal-norm table did not converge)"
    names = ("nngp", "ntk")
    coef = np.array([[tables[name] for name in names] for tables in fitted])
    start = nodes.size + checks.size
    parts = [[getattr(state, name) for name in names] for state in grid_states]
    tiny_values = np.array([[p.deficit[0, start:] for p in row] for row in parts])
    roots = np.array([[math.sqrt(p.g1[0]) * math.sqrt(p.g1[0]) for p in row] for row in parts])
    factors = np.array([[10.0**p.log10_deficit_scale for p in row] for row in parts])
    cosine_coef = _cosine_tables(coef, v_lo, width)
    values = _evaluate(
        delta,
        entry_loop.tiles(x1.shape[0], x2.shape[0], same),
        same,
        coef,
        v_lo,
        width,
        DELTA_MIN,
        tiny_delta,
        tiny_values.reshape(len(depths), 2, tiny.size),
        roots,
        factors,
        dense,
        cosine_coef,
    )
    states = []
    for layer, (grid_state, row) in enumerate(zip(grid_states, parts, strict=True)):
        kernels = [
            DeviationPart(
                g1=np.full(x1.shape[0], float(part.g1[0])),
                g2=np.full(x2.shape[0], float(part.g1[0])),
                deficit=np.empty((0, 0)) if dense else values[layer, kernel],
                log10_scale=part.log10_scale,
                log10_deficit_scale=part.log10_deficit_scale,
            )
            for kernel, part in enumerate(row)
        ]
        states.append(LayerState(grid_state.depth, kernels[0], kernels[1]))
    method = (
        f"equal-norm composed dual: exact recursion on {grid_theta.size} input angles "
        f"({network.activation.quadrature}), piecewise Chebyshev in ln θ + θ "
        f"({panels}×{DEGREE}, checked to {CHECK_TOL:g} relative)"
    )
    return states, values, method


def equal_norm_states(
    network: Network,
    x1: Array,
    x2: Array,
    same: bool,
    depths: list[int],
    progress: Progress,
) -> tuple[list[LayerState], str]:
    """Deviation-form kernels at ``depths`` by the tabulated composed dual; and the method."""
    states, _, method = equal_norm_evaluation(network, x1, x2, same, depths, progress, False)
    return states, method


def _tables(
    grid_states: list[LayerState], nodes: Array, checks: Array, v_lo: float, width: float
) -> list[dict[str, Array]] | None:
    """Per depth and kernel, Chebyshev tables of y = ln E − 2 ln θ₀; None if a check fails."""
    node_theta, check_theta = _grid_angles(nodes.size // DEGREE)
    log_nodes = np.log(node_theta)
    log_checks = np.log(check_theta)
    out = []
    for state in grid_states:
        tables = {}
        for name in ("nngp", "ntk"):
            e = getattr(state, name).deficit[0]
            node_e, check_e = e[: nodes.size], e[nodes.size : nodes.size + checks.size]
            if np.any(node_e <= 0.0) or np.any(check_e <= 0.0):
                return None
            coef = _fit(np.log(node_e) - 2.0 * log_nodes, nodes.size // DEGREE)
            predicted = np.array([_clenshaw(coef, v, v_lo, width) for v in checks])
            if np.max(np.abs(predicted - (np.log(check_e) - 2.0 * log_checks))) > CHECK_TOL:
                return None
            tables[name] = coef
        out.append(tables)
    return out


def _cosine_tables(coef: Array, v_lo: float, width: float) -> Array:
    """[depths, 2, COSINE_PANELS, COSINE_DEGREE]: E on [−COSINE_REACH, COSINE_REACH] as piecewise
    Chebyshev series in c = cos θ₀, fitted to the tables ``coef`` (in v = ln θ₀ + θ₀) at
    first-kind nodes and checked at two points per panel; empty if a check fails."""
    panel_width = 2.0 * COSINE_REACH / COSINE_PANELS
    k = np.arange(COSINE_DEGREE)
    x = np.cos(np.pi * (k + 0.5) / COSINE_DEGREE)[::-1]
    left = -COSINE_REACH + panel_width * np.arange(COSINE_PANELS)
    nodes = (left[:, None] + 0.5 * panel_width * (x[None, :] + 1.0)).ravel()
    half = COSINE_DEGREE // 2
    between = np.array([0.5 * (x[0] + x[1]), 0.5 * (x[half - 1] + x[half])])
    checks = (left[:, None] + 0.5 * panel_width * (between[None, :] + 1.0)).ravel()
    points = np.concatenate([nodes, checks])
    theta = np.arccos(points)
    v = np.log(theta) + theta
    out = np.empty((coef.shape[0], 2, COSINE_PANELS, COSINE_DEGREE))
    for layer in range(coef.shape[0]):
        for kernel in range(2):
            e = np.exp(_clenshaw_at(coef[layer, kernel], v, v_lo, width)) * theta * theta
            out[layer, kernel] = _fit(e[: nodes.size], COSINE_PANELS, COSINE_DEGREE)
            predicted = _clenshaw_at(out[layer, kernel], checks, -COSINE_REACH, panel_width)
            if np.max(np.abs(predicted / e[nodes.size :] - 1.0)) > COSINE_CHECK_TOL:
                return np.zeros((0, 2, COSINE_PANELS, COSINE_DEGREE))
    return out
