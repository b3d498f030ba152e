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
inputs in many dimensions) are evaluated from E itself as piecewise polynomials in cos θ₀
(Chebyshev series fitted to those tables and checked, evaluated by Horner's rule in
cos θ₀ minus the panel's centre: no arcsine, logarithm or exponential per pair; for the
kernels themselves √(K_aa K_bb) − 10^s·E is folded into the coefficients).

Only the panels the inputs reach are built: a first pass over the Gram matrix finds the
range of cos θ₀ (and the exact δ of the pairs with cos θ₀ > NEAR_COSINE), and the grid
holds the nodes of the panels covering those angles and the cosine panels' nodes (for
inputs in 64 dimensions 4 of the 32 panels: 72 angles instead of 576); those panels are
the panels of the full tables. The evaluation then reads cos θ₀ from the Gram matrix pair
by pair (no n1 × n2 array of deficits), and δ = 1 − cos θ₀ exactly
(:func:`core.kernels.pair_deficit`) only outside the cosine tables.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numba
import numpy as np

from core import entry_loop
from core.activations.base import Array
from core.arctangent import deficit_angle
from core.deficits import DeviationPart, LayerState, Track
from core.entry_loop import TILE, Integers
from core.kernels import NEAR_DUPLICATE, pair_deficit
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
#: pairs with cos θ₀ above this get their exact deficit before the grid is built (the
#: near-duplicates below DELTA_MIN are computed on it)
NEAR_COSINE = 1.0 - 1e-4
#: margin in v of the range of panels built
PANEL_MARGIN = 1e-6
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


@numba.njit(inline="always")
def _cosine(gram: Array, r1: Array, r2: Array, a: int, b: int) -> float:
    """cos θ₀ of pair (a, b) to a few ulps (``r1``, ``r2``: reciprocal norms)."""
    return gram[a, b] * r1[a] * r2[b]


@numba.njit(parallel=True, cache=True)
def _cosine_range(gram: Array, r1: Array, r2: Array, same: bool, tiles: Integers) -> Array:
    """[tiles, 2]: per block of the pair loop, the least and the largest :func:`_cosine`
    (with ``same``: over a < b); (2, −2) for a block without pairs."""
    n1, n2 = gram.shape
    out = np.empty((tiles.shape[0], 2))
    for k in numba.prange(tiles.shape[0]):
        row, column = tiles[k, 0], tiles[k, 1]
        lo, hi = 2.0, -2.0
        for a in range(row, min(row + TILE, n1)):
            for b in range(max(a + 1, column) if same else column, min(column + TILE, n2)):
                c = _cosine(gram, r1, r2, a, b)
                lo = min(lo, c)
                hi = max(hi, c)
        out[k, 0], out[k, 1] = lo, hi
    return out


@numba.njit(cache=True)
def _near_pairs(
    x1: Array,
    x2: Array,
    gram: Array,
    norms1: Array,
    norms2: Array,
    r1: Array,
    r2: Array,
    same: bool,
    tiles: Integers,
    above: float,
    low: float,
) -> tuple[float, Array]:
    """Over the pairs of ``tiles`` with :func:`_cosine` > ``above``, the exact input deficits
    δ (:func:`core.kernels.pair_deficit`): the least δ ≥ ``low`` (inf if none) and the
    distinct δ with 0 < δ < ``low``, sorted."""
    n1, n2 = gram.shape
    least = np.inf
    found = [0.0]
    for k in range(tiles.shape[0]):
        row, column = tiles[k, 0], tiles[k, 1]
        for a in range(row, min(row + TILE, n1)):
            for b in range(max(a + 1, column) if same else column, min(column + TILE, n2)):
                if _cosine(gram, r1, r2, a, b) > above:
                    d = pair_deficit(x1, x2, gram, norms1, norms2, same, a, b, NEAR_DUPLICATE)
                    if 0.0 < d < low:
                        found.append(d)
                    elif d >= low:
                        least = min(least, d)
    return least, np.unique(np.array(found[1:]))


@numba.njit(parallel=True, cache=True)
def _evaluate(
    x1: Array,
    x2: Array,
    gram: Array,
    norms1: Array,
    norms2: Array,
    r1: Array,
    r2: Array,
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
    centres: Array,
    first_panel: int,
) -> Array:
    """[depths, 2, n1, n2]: the deficits E of every pair (or with ``dense`` the kernels
    roots − factors·E), both kernels in one pass over the Gram matrix ``gram`` (norms
    ``norms1``, ``norms2``, reciprocals ``r1``, ``r2``). ``tiles``: blocks of the pair loop
    (:func:`core.entry_loop.tiles`); ``same``: only a ≤ b, mirrored.

    Pairs with |cos θ₀| ≤ COSINE_REACH read ``cosine_coef`` [depths, 2, panels',
    COSINE_DEGREE] (if not empty): E (with ``dense`` the kernels) as a polynomial in
    cos θ₀ − ``centres``[panel'] on the panels ``first_panel`` + panel' of COSINE_PANELS
    across [−COSINE_REACH, COSINE_REACH]. The others take δ = 1 − cos θ₀ exactly
    (:func:`core.kernels.pair_deficit`): E = 0 at δ = 0, the exact ``tiny_values`` for
    0 < δ < ``low``, else exp(y(ln θ₀ + θ₀) + 2 ln θ₀) from ``coef`` [depths, 2, panels,
    DEGREE] (Chebyshev panels of ``width`` from ``v_lo``)."""
    n1, n2 = gram.shape
    depths, _, panels, degree = coef.shape
    fast = cosine_coef.shape[0] == depths
    count = cosine_coef.shape[2]
    inverse_width = COSINE_PANELS / (2.0 * COSINE_REACH)
    out = np.empty((depths, 2, n1, n2))
    for k in numba.prange(tiles.shape[0]):
        row, column = tiles[k, 0], tiles[k, 1]
        for a in range(row, min(row + TILE, n1)):
            ra = r1[a]
            for b in range(max(a, column) if same else column, min(column + TILE, n2)):
                c = gram[a, b] * ra * r2[b]  # as _cosine
                if fast and abs(c) <= COSINE_REACH:
                    panel = int((c + COSINE_REACH) * inverse_width) - first_panel
                    panel = min(max(panel, 0), count - 1)
                    s = c - centres[panel]
                    for layer in range(depths):  # Horner; COSINE_DEGREE is a compile-time constant
                        e0 = cosine_coef[layer, 0, panel, COSINE_DEGREE - 1]
                        e1 = cosine_coef[layer, 1, panel, COSINE_DEGREE - 1]
                        for j in range(COSINE_DEGREE - 2, -1, -1):
                            e0 = e0 * s + cosine_coef[layer, 0, panel, j]
                            e1 = e1 * s + cosine_coef[layer, 1, panel, j]
                        out[layer, 0, a, b] = e0
                        out[layer, 1, a, b] = e1
                        if same:
                            out[layer, 0, b, a] = e0
                            out[layer, 1, b, a] = e1
                    continue
                d = pair_deficit(x1, x2, gram, norms1, norms2, same, a, b, NEAR_DUPLICATE)
                theta = deficit_angle(d)
                u = math.log(theta) if theta > 0.0 else 0.0
                index = -1
                if 0.0 < d < low:
                    index = int(np.searchsorted(tiny, d))
                v = u + theta
                panel = min(max(int((v - v_lo) / width), 0), panels - 1)
                x2v = 2.0 * (2.0 * (v - v_lo - panel * width) / width - 1.0)
                for layer in range(depths):
                    if theta == 0.0:
                        e0 = e1 = 0.0
                    elif index >= 0:
                        e0 = tiny_values[layer, 0, index]
                        e1 = tiny_values[layer, 1, index]
                    else:  # Clenshaw (as _clenshaw), both kernels in one loop
                        b1 = b2 = c1 = c2 = 0.0
                        for j in range(degree - 1, 0, -1):
                            b1, b2 = x2v * b1 - b2 + coef[layer, 0, panel, j], b1
                            c1, c2 = x2v * c1 - c2 + coef[layer, 1, panel, j], c1
                        e0 = math.exp(0.5 * x2v * b1 - b2 + coef[layer, 0, panel, 0] + 2.0 * u)
                        e1 = math.exp(0.5 * x2v * c1 - c2 + coef[layer, 1, panel, 0] + 2.0 * u)
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


def _cosine_panel(c: float) -> int:
    """The panel of COSINE_PANELS that :func:`_evaluate` reads at cos θ₀ = c (|c| ≤ REACH)."""
    inverse_width = COSINE_PANELS / (2.0 * COSINE_REACH)
    return min(int((c + COSINE_REACH) * inverse_width), COSINE_PANELS - 1)


def _reach(
    x1: Array,
    x2: Array,
    gram: Array,
    norms: tuple[Array, Array, Array, Array],
    same: bool,
    tiles: Integers,
) -> tuple[float, float, tuple[int, int] | None, Array]:
    """What the inputs need of the tables: (θ_lo, θ_hi) covering every pair's input angle
    outside the cosine tables (and the cosine tables' own nodes), the range of cosine
    panels the pairs read (None if no pair has |cos θ₀| ≤ COSINE_REACH), and the sorted
    distinct deficits 0 < δ < DELTA_MIN (computed exactly, on the grid)."""
    norms1, norms2, r1, r2 = norms
    ranges = _cosine_range(gram, r1, r2, same, tiles)
    lo, hi = float(np.min(ranges[:, 0])), float(np.max(ranges[:, 1]))
    if lo > hi:  # no pair off the diagonal: only E = 0
        return math.pi / 2, math.pi / 2, None, np.zeros(0)
    theta_lo = math.acos(min(hi, 1.0))
    near = np.ascontiguousarray(tiles[ranges[:, 1] > NEAR_COSINE])
    # called without near pairs too (returning at once), so that every equal-norm request
    # compiles it (the service's warm-up)
    least, tiny = _near_pairs(
        x1, x2, gram, norms1, norms2, r1, r2, same, near, NEAR_COSINE, DELTA_MIN
    )
    if near.shape[0]:
        # the other pairs have cos θ₀ ≤ NEAR_COSINE; δ = 0 and δ < DELTA_MIN need no table
        theta_lo = math.acos(NEAR_COSINE)
        if least < np.inf:
            theta_lo = min(theta_lo, 2.0 * math.asin(math.sqrt(0.5 * least)))
    theta_hi = math.acos(max(lo, -1.0))
    cosine = None
    if lo <= COSINE_REACH and hi >= -COSINE_REACH:
        first = _cosine_panel(max(lo, -COSINE_REACH))
        last = _cosine_panel(min(hi, COSINE_REACH))
        cosine = (first, last)
        panel_width = 2.0 * COSINE_REACH / COSINE_PANELS
        theta_lo = min(theta_lo, math.acos(-COSINE_REACH + panel_width * (last + 1)))
        theta_hi = max(theta_hi, math.acos(-COSINE_REACH + panel_width * first))
    return theta_lo, theta_hi, cosine, tiny


def _panel_range(theta_lo: float, theta_hi: float, panels: int) -> tuple[int, int]:
    """The first and last of ``panels`` Chebyshev panels in v = ln θ + θ covering
    [θ_lo, θ_hi] (with a margin)."""
    _, _, v_lo, width = _chebyshev_nodes(panels)
    lo = max(theta_lo, THETA_MIN)
    hi = min(max(theta_hi, lo), math.pi)
    first = int((math.log(lo) + lo - PANEL_MARGIN - v_lo) / width)
    last = int((math.log(hi) + hi + PANEL_MARGIN - v_lo) / width)
    return min(max(first, 0), panels - 1), min(max(last, 0), panels - 1)


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

    Only the panels of the tables that the inputs' angles reach are built (a first pass
    over the Gram matrix finds the range of cos θ₀); the table values there are those
    of the full tables.
    """
    from core.kernels import _per_entry_states, input_gram, run_layers

    gram, norms1, norms2 = input_gram(x1, x2, same)
    norms = (norms1, norms2, 1.0 / norms1, 1.0 / norms2)
    blocks = entry_loop.tiles(x1.shape[0], x2.shape[0], same)
    theta_lo, theta_hi, cosine_panels, tiny_delta = _reach(x1, x2, gram, norms, same, blocks)
    tiny = 2.0 * np.arcsin(np.sqrt(0.5 * tiny_delta))
    d = x1.shape[1]
    sq = float(np.mean(np.einsum("ij,ij->i", x1, x1)))
    a = network.first_sigma_w2 * sq / d
    q = a + network.first_sigma_b2
    compiled = entry_loop.supported(network, 2, depths[-1], q)
    for panels in PANELS:
        first, last = _panel_range(theta_lo, theta_hi, panels)
        nodes, checks, v_lo, width = _chebyshev_nodes(panels)
        node_theta, check_theta = _grid_angles(panels)
        used = slice(first, last + 1)
        nodes = nodes.reshape(panels, DEGREE)[used].ravel()
        checks = checks.reshape(panels, 2)[used].ravel()
        node_theta = node_theta.reshape(panels, DEGREE)[used].ravel()
        check_theta = check_theta.reshape(panels, 2)[used].ravel()
        grid_theta = np.concatenate([node_theta, check_theta, tiny])
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
        v_first = v_lo + first * width
        fitted = _tables(grid_states, node_theta, check_theta, checks, v_first, width)
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
    cosine_note = f"no pair in |cos θ| ≤ {COSINE_REACH:g}"
    if cosine_panels is None:
        cosine_coef, centres = _no_cosine_tables(len(depths)), np.zeros(1)
        cosine_first = 0
    else:
        cosine_first, cosine_last = cosine_panels
        cosine_coef, centres = _cosine_tables(coef, v_first, width, cosine_first, cosine_last)
        if dense and cosine_coef.shape[0]:  # the kernels roots − factors·E, as polynomials
            cosine_coef *= -factors[:, :, None, None]
            cosine_coef[:, :, :, 0] += roots[:, :, None]
    if cosine_coef.shape[0]:
        cosine_note = (
            f"|cos θ| ≤ {COSINE_REACH:g} by polynomials in cos θ ({cosine_coef.shape[2]} of "
            f"{COSINE_PANELS} panels × {COSINE_DEGREE} terms, checked to "
            f"{COSINE_CHECK_TOL:g})"
        )
    elif cosine_panels is not None:
        cosine_note = f"|cos θ| ≤ {COSINE_REACH:g} from the tables in ln θ + θ (fit failed)"
    values = _evaluate(
        x1,
        x2,
        gram,
        *norms,
        blocks,
        same,
        coef,
        v_first,
        width,
        DELTA_MIN,
        tiny_delta,
        tiny_values.reshape(len(depths), 2, tiny.size),
        roots,
        factors,
        dense,
        cosine_coef,
        centres,
        cosine_first,
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
        f"({last - first + 1} of {panels} panels × {DEGREE}, those the inputs' angles reach, "
        f"checked to {CHECK_TOL:g} relative); {cosine_note}"
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
    grid_states: list[LayerState],
    node_theta: Array,
    check_theta: Array,
    checks: Array,
    v_lo: float,
    width: float,
) -> list[dict[str, Array]] | None:
    """Per depth and kernel, Chebyshev tables of y = ln E − 2 ln θ₀ on consecutive panels
    from ``v_lo`` (nodes at ``node_theta``, checked at ``check_theta``, v = ``checks``);
    None if a check fails."""
    log_nodes = np.log(node_theta)
    log_checks = np.log(check_theta)
    size = node_theta.size
    out = []
    for state in grid_states:
        tables = {}
        for name in ("nngp", "ntk"):
            e = getattr(state, name).deficit[0]
            node_e, check_e = e[:size], e[size : size + check_theta.size]
            if np.any(node_e <= 0.0) or np.any(check_e <= 0.0):
                return None
            coef = _fit(np.log(node_e) - 2.0 * log_nodes, size // DEGREE)
            predicted = _clenshaw_at(coef, checks, v_lo, width)
            if np.max(np.abs(predicted - (np.log(check_e) - 2.0 * log_checks))) > CHECK_TOL:
                return None
            tables[name] = coef
        out.append(tables)
    return out


@functools.cache
def _monomial_basis(panel_width: float) -> Array:
    """[k, j]: the coefficient of s^j in T_k(2s/w), w = ``panel_width``, k < COSINE_DEGREE."""
    basis = np.zeros((COSINE_DEGREE, COSINE_DEGREE))
    for order in range(COSINE_DEGREE):
        unit = np.zeros(order + 1)
        unit[order] = 1.0
        basis[order, : order + 1] = np.polynomial.chebyshev.cheb2poly(unit)
    return basis * (2.0 / panel_width) ** np.arange(COSINE_DEGREE)


def _no_cosine_tables(depths: int) -> Array:
    return np.zeros((0, 2, 1, COSINE_DEGREE))


def _cosine_tables(
    coef: Array, v_lo: float, width: float, first: int, last: int
) -> tuple[Array, Array]:
    """E as polynomials in c = cos θ₀ on the panels ``first`` … ``last`` of COSINE_PANELS
    across [−COSINE_REACH, COSINE_REACH]: ([depths, 2, panels', COSINE_DEGREE] monomial
    coefficients in c − centre, [panels'] centres). Fitted as Chebyshev series to the tables
    ``coef`` (in v = ln θ₀ + θ₀, panels from ``v_lo``) at first-kind nodes, converted, and
    the polynomials checked against those tables at two points per panel; empty if a check
    fails."""
    panels = last - first + 1
    panel_width = 2.0 * COSINE_REACH / COSINE_PANELS
    k = np.arange(COSINE_DEGREE)
    x = np.cos(np.pi * (k + 0.5) / COSINE_DEGREE)[::-1]
    left = -COSINE_REACH + panel_width * np.arange(first, last + 1, dtype=np.float64)
    centres = left + 0.5 * panel_width
    nodes = (left[:, None] + 0.5 * panel_width * (x[None, :] + 1.0)).ravel()
    half = COSINE_DEGREE // 2
    between = np.array([0.5 * (x[0] + x[1]), 0.5 * (x[half - 1] + x[half])])
    checks = (left[:, None] + 0.5 * panel_width * (between[None, :] + 1.0)).ravel()
    points = np.concatenate([nodes, checks])
    theta = np.arccos(points)
    v = np.log(theta) + theta
    basis = _monomial_basis(panel_width)
    offsets = (checks.reshape(panels, 2) - centres[:, None]).T  # [2, panels]
    out = np.empty((coef.shape[0], 2, panels, COSINE_DEGREE))
    for layer in range(coef.shape[0]):
        for kernel in range(2):
            e = np.exp(_clenshaw_at(coef[layer, kernel], v, v_lo, width)) * theta * theta
            table = _fit(e[: nodes.size], panels, COSINE_DEGREE) @ basis
            predicted = np.zeros((2, panels))
            for j in range(COSINE_DEGREE - 1, -1, -1):
                predicted = predicted * offsets + table[:, j]
            if np.max(np.abs(predicted.T.ravel() / e[nodes.size :] - 1.0)) > COSINE_CHECK_TOL:
                return _no_cosine_tables(coef.shape[0]), centres
            out[layer, kernel] = table
    return out, centres
