"""Activations without closed forms: Gaussian expectations by quadrature (Mehler series).

One-dimensional expectations E[f(√q z)] use the trapezoidal rule in z on [−13, 13] (the
Gaussian weight is below 1e-36 beyond) with a step sized to q: h = 2π/(25√q + 10), down
to h ≈ 1/400 (q ≈ 1e4). For f analytic in a strip |Im x| < π/2 (tanh; sigmoid, softplus
and silu have π) the aliasing error is ~exp(−(2π/h − 9)·π/(2√q)) < 1e-16.

Two-dimensional expectations use Mehler's expansion in the orthonormal Hermite
polynomials h_k: with α_k(q) = E[φ(√q z) h_k(z)],

    E[φ(u) φ(v)] = Σ_k c^k α_k(q1) α_k(q2),

and likewise with β_k(q) = E[φ'(√q z) h_k(z)] for E[φ'(u) φ'(v)]. The coefficients are
computed once per distinct variance q, through the Hermite functions ψ_k(z) = h_k(z)
e^{−z²/4}/(2π)^{1/4}, on a grid whose step resolves both ψ_{K−1} and f(√q z):
h ≤ min(π/(√K + 10), 2π/(√K + 25√q + 10)), for K = 32, 64, … terms until the series has
converged (steps are powers of 2^{-1/8}, so rows of nearby q share one table of ψ_k).
Where f is exactly odd or even on the grid, the other coefficients are exactly 0 and the
rest are summed over z ≥ 0 (tables of half the nodes and terms).
The series is truncated at the first K where the tail Σ_{k≥K} α_k² is below ``TAIL`` · V(q):
the error of every expectation is then ≤ 1e-14 relative, for every c in [−1, 1]. K grows
linearly with q (tanh: K ≈ 115 q, tanh': 170 q); above a threshold variance the
activation's large-variance rule is used (:mod:`core.activations.large_variance` for tanh
and sigmoid, :mod:`core.activations.smooth_relu_large` for softplus and silu), and beyond
``MAX_TERMS`` a :class:`NumericalError` is raised rather than a less accurate number
returned (an activation without such a rule).

A layer of the general recursion asks for the rows of hundreds of distinct variances (one
per point). Where a panel of q_max/q_min ≤ 16 holds at least 48 of them, their rows are
interpolated instead: each α_k is analytic in log q (tanh(√q z) has no pole for real z
while |arg q| < π), so its Chebyshev interpolant in log q at 9, 17 or 33 Lobatto nodes
(rows there computed as above, all to one width) converges geometrically; it is used once
the last three Chebyshev coefficients of every term are below 1e-15 of the largest √T at
the nodes, which leaves it within the rules' own rounding (~1e-15 of √T) of the rows
computed one by one (else the rows are computed one by one). Each row's series length is
its own (as later calls find it in the memo). Moments (V, W) are computed one by one.

Per entry the sum stops once |c|^k times the coefficients' remaining norms is below 2^-53
of the partial sum (few terms unless |c| is near 1). Deficits need no cancellation: with
T = Σ_{k<K} α_k² (the truncated V),

    √(T1T2) − E[φ(u)φ(v)] = Σ_k α_k(q1)α_k(q2)(1 − c^k)
                            + ½ Σ_k (α_k(q1) − α_k(q2))² − ½(√T1 − √T2)²,

with 1 − c^k accumulated from δ = 1 − c without cancellation. Where the bound
√(T1T2)·[1 − √((1 − F1)(1 − F2)) − |c|√(F1F2)] on the deficit (F = share of T outside
k = 0) is at least 1/64 of √(T1T2), the deficit is √(T1T2) minus the short sum instead
(at most 6 bits lost). Symmetric kernels (q1 = q2ᵀ, c = cᵀ) are summed once per pair.
The sums are compiled in :mod:`core.activations.mehler` (vectorised across entries).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol, cast

import numba
import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.fft import dct

from core.activations import mehler, smooth
from core.activations.base import Activation, Array, as_array, clipped_cosine_deficits
from core.blas import one_blas_thread
from core.errors import NumericalError

#: half-width of the z grids
HALF_WIDTH = 13.0
#: finest grid index: step 2^{-69/8} ≈ 1/400 (10,401 nodes)
FINEST = 69
#: most Hermite terms kept
MAX_TERMS = 4096
#: fewest terms computed (the series length K is then found from the tail)
MIN_TERMS = 32
#: relative tail Σ_{k≥K} α_k² / V at which the series is truncated
TAIL = 1e-15
#: rows of q evaluated at once (bounds the temporary [rows, nodes] array)
CHUNK = 256
#: f(√q z) is sampled only on grids where 25√q < RESOLVABLE·(√K + 10) (tanh converges at
#: 25√q ≈ 2.3(√K + 10), the smoother activations at larger ratios)
RESOLVABLE = 6.0
#: fraction of the terms computed that the series may use (the rest must be in the tail)
USABLE = 0.75
#: rows of at least this many distinct variances within one panel are interpolated
INTERPOLATE_FROM = 48
#: widest panel of interpolated variances, q_max/q_min
PANEL_RATIO = 16.0
#: Chebyshev degrees tried in log q (nested Chebyshev–Lobatto nodes)
DEGREES = (8, 16, 32)
#: the interpolant is accepted where its last three Chebyshev coefficients are below
#: this share of the largest row norm √T at the nodes
CHEBYSHEV_TAIL = 1e-15

Function = Callable[[Array], Array]
Indices = NDArray[np.integer[Any]]
Mask = NDArray[np.bool_]
#: rows at the given variances (each at least the given width long) and an integer each
Sample = Callable[[Array, int], tuple[list[Array], Indices]]


#: per-(activation, function, q) memo of Hermite coefficients and moments: a deep network's
#: variances settle on a fixed point, after which every layer reuses the same rows
_MEMO: dict[tuple[object, ...], dict[float, Array]] = {}
MEMO_SIZE = 4096
#: per-(activation, function): largest series length per unit variance seen, K/(q + 0.1)
_TERMS_PER_Q: dict[tuple[object, ...], float] = {}


def _step_index(bound: Array) -> Array:
    """Smallest m with 2^{-m/8} ≤ bound (grid steps are powers of 2^{-1/8}), at most
    FINEST (the moments of softplus and silu are asked for at any q; above q ≈ 1e4 their
    grid stops refining: the relative error grows like e^{-2π²/(h√q)})."""
    return np.clip(np.ceil(-8.0 * np.log2(bound)), 0, FINEST).astype(np.int64)


def _nodes(index: int) -> tuple[Array, float]:
    step = 2.0 ** (-index / 8.0)
    count = math.ceil(HALF_WIDTH / step)
    return np.arange(-count, count + 1, dtype=np.float64) * step, step


@lru_cache(maxsize=32)
def _hermite_table(index: int, terms: int) -> tuple[Array, Array]:
    """z nodes of grid ``index`` and ψ_k(z_j)·√step for k < ``terms``, shape [terms, nodes]."""
    z, step = _nodes(index)
    psi = np.empty((terms, z.size))
    psi[0] = np.exp(-z * z / 4) / (2 * np.pi) ** 0.25 * np.sqrt(step)
    psi[1] = z * psi[0]
    for k in range(1, terms - 1):
        psi[k + 1] = (z * psi[k] - np.sqrt(k) * psi[k - 1]) / np.sqrt(k + 1)
    z.setflags(write=False)
    psi.setflags(write=False)
    return z, psi


@lru_cache(maxsize=64)
def _folded_table(index: int, terms: int, odd: bool) -> tuple[Array, Array]:
    """For f of parity ``odd`` on grid ``index``: the weights 2ψ_0(z)√step on the nodes
    z ≥ 0 (ψ_0(0)√step at z = 0) and ψ_k(z)√step there for the k of that parity, [k, node]."""
    psi = _hermite_table.__wrapped__(index, terms)[1]  # not kept: the folded table is
    centre = psi.shape[1] // 2
    weights = 2.0 * psi[0, centre:]
    weights[0] = psi[0, centre]
    table = np.ascontiguousarray(psi[int(odd) :: 2, centre:])
    weights.setflags(write=False)
    table.setflags(write=False)
    return weights, table


def _project(values: Array, index: int, terms: int) -> Array:
    """Rows Σ_j f(√q z_j) ψ_0(z_j) ψ_k(z_j)·step, k < ``terms``, from f's samples [row, node].

    Where the samples are exactly odd (even) in z, the even (odd) k are exactly 0 and the
    others are summed over z ≥ 0 (the same rule, folded)."""
    mirrored = values[:, ::-1]
    for odd in (True, False):
        if np.array_equal(mirrored, -values if odd else values):
            weights, table = _folded_table(index, terms, odd)
            centre = values.shape[1] // 2
            block = np.zeros((values.shape[0], terms))
            block[:, int(odd) :: 2] = (values[:, centre:] * weights) @ table.T
            return block
    psi = _hermite_table(index, terms)[1]
    return (values * psi[0]) @ psi.T


def expectation(f: Function, q: ArrayLike) -> Array:
    """E[f(√q z)], z ~ N(0, 1), elementwise over q ≥ 0 (trapezoidal rule sized to q)."""
    return expectations(lambda x: (f(x),), q)[0]


def expectations(fs: Callable[[Array], tuple[Array, ...]], q: ArrayLike) -> list[Array]:
    """E[f(√q z)] for each f of ``fs`` (which returns their samples), as :func:`expectation`."""
    q = as_array(q)
    unique, inverse = np.unique(q, return_inverse=True)
    roots = np.sqrt(np.maximum(unique, 0.0))
    index = _step_index(2 * np.pi / (25 * roots + 10))
    outs: list[Array] = []
    for m in np.unique(index):
        rows = np.flatnonzero(index == m)
        z, step = _nodes(int(m))
        weight = np.exp(-z * z / 2) * (step / np.sqrt(2 * np.pi))
        for start in range(0, rows.size, CHUNK):
            part = rows[start : start + CHUNK]
            for i, samples in enumerate(fs(roots[part, None] * z)):
                if i == len(outs):
                    outs.append(np.empty(unique.size))
                outs[i][part] = samples @ weight
    if not outs:
        outs = [np.empty(0) for _ in fs(np.zeros((0, 1)))]
    return [out[inverse].reshape(q.shape) for out in outs]


def series_lengths(coefficients: Array) -> tuple[Indices, Mask]:
    """Per row: smallest K with Σ_{k≥K} α_k² ≤ TAIL · Σ_k α_k², and whether K ≤ USABLE·width."""
    width = coefficients.shape[1]
    lengths = np.empty(coefficients.shape[0], dtype=np.int64)
    _series_lengths(np.ascontiguousarray(coefficients), TAIL, lengths)
    return lengths, lengths <= USABLE * width


@numba.njit(cache=True)
def _series_lengths(coefficients: Array, tail: float, lengths: Indices) -> None:
    """The tails Σ_{k ≥ K} α_k² summed in order from the last term (the total is the last
    of them); the converged ones (≤ tail·total) are a prefix from the end: count them."""
    rows, width = coefficients.shape
    for i in range(rows):
        total = 0.0
        for k in range(width - 1, -1, -1):
            total += coefficients[i, k] * coefficients[i, k]
        limit = tail * total
        partial = 0.0
        converged = 0
        for k in range(width - 1, -1, -1):
            partial += coefficients[i, k] * coefficients[i, k]
            if partial > limit:
                break
            converged += 1
        lengths[i] = max(width - converged, 1)


def hermite_coefficients(
    f: Function, q: Array, what: str = "φ", least: ArrayLike = 0
) -> tuple[list[Array], Indices]:
    """Rows α_k(q) = E[f(√q z) h_k(z)], each for k below its grid's term count (a power of
    two ≥ ``least`` per row, converged within USABLE of it), and their series lengths
    (:func:`series_lengths`). NumericalError where MAX_TERMS terms do not suffice."""
    roots = np.sqrt(np.maximum(q, 0.0))
    rows: list[Array] = [np.zeros(0)] * q.size
    lengths = np.zeros(q.size, dtype=np.int64)
    start = np.full(q.size, MIN_TERMS)
    wanted = np.broadcast_to(as_array(least), q.shape)
    while np.any(start < wanted):
        start = np.where(start < wanted, 2 * start, start)
    start = np.minimum(start, 2 * MAX_TERMS)
    pending = np.arange(q.size)
    terms = int(np.min(start))
    # small GEMMs: BLAS's own threads made them ~5x slower than one on a 2-core machine
    with one_blas_thread():
        _fill(f, q, what, roots, rows, lengths, start, pending, terms)
    return rows, lengths


def _fill(
    f: Function,
    q: Array,
    what: str,
    roots: Array,
    rows: list[Array],
    lengths: Indices,
    start: Indices,
    pending: Indices,
    terms: int,
) -> None:
    """The passes of :func:`hermite_coefficients`, doubling the term count."""
    while pending.size:
        hermite = math.sqrt(terms) + 10
        if terms > MAX_TERMS:
            worst = float(np.max(q[pending]))
            raise NumericalError(
                f"the Hermite series of {what} does not converge to 1e-15 within {MAX_TERMS} "
                f"terms at pre-activation variance q = {worst:.6g}: the activation is too "
                "steep at this scale for the numerical quadrature (use smaller weight/input "
                "variances)"
            )
        # f(√q z) finer than ψ_terms resolves cannot converge in this many terms (and would
        # need a grid of ~√q nodes): those rows wait for a larger count
        active = pending[(start[pending] <= terms) & (25 * roots[pending] < RESOLVABLE * hermite)]
        bound = np.minimum(np.pi / hermite, 2 * np.pi / (math.sqrt(terms) + 25 * roots + 10))
        index = _step_index(bound[active])
        for m in np.unique(index):
            group = active[index == m]
            z = _nodes(int(m))[0]
            for first in range(0, group.size, CHUNK):
                part = group[first : first + CHUNK]
                block = _project(f(roots[part, None] * z), int(m), terms)
                counts, ok = series_lengths(block)
                for g, row, count, good in zip(part, block, counts, ok, strict=True):
                    if good:
                        rows[g] = row
                        lengths[g] = count
                    else:
                        start[g] = 2 * terms
        pending = np.array([g for g in pending if rows[g].size == 0], dtype=np.int64)
        terms *= 2


def coefficient_rows(
    f: Function, q: Array, what: str = "φ", least: float = 0.0
) -> tuple[list[Array], Indices]:
    """As :func:`hermite_coefficients` for distinct q, the rows of many variances
    interpolated in log q (:func:`interpolated_rows`)."""

    def sample(values: Array, width: int) -> tuple[list[Array], Indices]:
        return hermite_coefficients(f, values, what, max(least, width))

    return interpolated_rows(q, sample)


def interpolated_rows(q: Array, sample: Sample) -> tuple[list[Array], Indices]:
    """``sample``'s rows and lengths at the distinct q, where a panel of q_max/q_min ≤
    PANEL_RATIO holds at least INTERPOLATE_FROM of them from their Chebyshev interpolant in
    log q (:func:`_interpolant`), else from ``sample`` itself. ``sample(v, width)``: rows
    at least ``width`` long and the length of each that is used (its series length);
    interpolated rows are as wide as the nodes' rows, their series lengths their own (as a
    later call finds them in the memo)."""
    rows: list[Array] = [np.zeros(0)] * q.size
    counts = np.zeros(q.size, dtype=np.int64)
    order = np.argsort(q)
    positive = order[q[order] > 0.0]
    direct = [order[~(q[order] > 0.0)]]
    if positive.size >= INTERPOLATE_FROM:
        logs = np.log(q[positive])
        panels = max(1, math.ceil((logs[-1] - logs[0]) / math.log(PANEL_RATIO)))
        edges = np.linspace(logs[0], logs[-1], panels + 1)[1:-1]
        for part in np.split(positive, np.searchsorted(logs, edges)):
            found = _interpolant(q[part], sample) if part.size >= INTERPOLATE_FROM else None
            if found is None:
                direct.append(part)
                continue
            rows_found, counts[part] = found
            for i, row in zip(part, rows_found, strict=True):
                rows[i] = row
    else:
        direct.append(positive)
    rest = np.concatenate(direct)
    if rest.size:
        computed, counts[rest] = sample(q[rest], 0)
        for i, row in zip(rest, computed, strict=True):
            rows[i] = row
    return rows, counts


def _interpolant(q: Array, sample: Sample) -> tuple[Array, Indices] | None:
    """Rows at the sorted distinct q > 0 from their Chebyshev interpolant in log q over
    [q_0, q_-1], at degrees DEGREES in turn until the last three Chebyshev coefficients
    of every column are below CHEBYSHEV_TAIL of the largest row norm at the nodes (None
    if none is). All nodes share one width, so the rows are polynomials in log q column
    by column."""
    lo, hi = math.log(q[0]), math.log(q[-1])
    middle, half = 0.5 * (hi + lo), 0.5 * (hi - lo)
    table = np.zeros((1, 0))
    counts = np.zeros(1, dtype=np.int64)
    for degree in DEGREES:
        x = np.cos(np.pi * np.arange(degree + 1) / degree)  # descending from 1
        nodes = np.exp(middle + half * x)
        nodes[0], nodes[-1] = q[-1], q[0]
        # nested nodes: the previous degree's are the even ones (the first pass has none)
        fresh = np.arange(1, degree + 1, 2) if table.shape[1] else np.arange(degree + 1)
        computed, fresh_counts = sample(nodes[fresh], table.shape[1])
        width = max(table.shape[1], *(row.size for row in computed))
        rows: list[Array] = [np.zeros(0)] * (degree + 1)
        node_counts = np.zeros(degree + 1, dtype=np.int64)
        if table.shape[1]:
            rows[::2] = list(table)
            node_counts[::2] = counts
        for node, row in zip(fresh, computed, strict=True):
            rows[node] = row
        node_counts[fresh] = fresh_counts
        short = [j for j, row in enumerate(rows) if row.size < width]
        if short:
            redone, node_counts[short] = sample(nodes[short], width)
            for j, row in zip(short, redone, strict=True):
                rows[j] = row
        table = np.stack([row[:width] for row in rows])
        counts = node_counts
        scale = math.sqrt(float(np.max(np.einsum("jk,jk->j", table, table))))
        chebyshev = dct(table[:, : max(int(np.max(counts)), 1)], type=1, axis=0)[-3:] / degree
        chebyshev[-1] /= 2.0
        if np.max(np.abs(chebyshev)) <= CHEBYSHEV_TAIL * scale:
            found = _barycentric(x, table, (np.log(q) - middle) / half)
            return found, series_lengths(found)[0]
    return None


def _barycentric(x: Array, values: Array, at: Array) -> Array:
    """The polynomial through (x_j, values[j]) at the Chebyshev–Lobatto nodes x, evaluated
    at ``at`` in [−1, 1] by the barycentric formula (rows [at, term])."""
    weights = np.ones(x.size)
    weights[::2] = -1.0
    weights[0] *= 0.5
    weights[-1] *= 0.5
    gap = at[:, None] - x[None, :]
    hit = gap == 0.0
    gap[hit] = 1.0
    lagrange = weights / gap
    lagrange /= np.sum(lagrange, axis=1, keepdims=True)
    on_node = np.flatnonzero(np.any(hit, axis=1))
    lagrange[on_node] = hit[on_node]
    with one_blas_thread():
        return lagrange @ values


class LargeVarianceRule(Protocol):
    """Expectations above ``threshold`` (:mod:`core.activations.large_variance`,
    :mod:`core.activations.smooth_relu_large`); numpy arrays in and out."""

    threshold: float

    def moments(self, q: Array) -> tuple[Array, Array, Array]: ...

    def pairs(
        self, derivative: bool, q1: Array, q2: Array, delta: Array, want_deficit: bool
    ) -> tuple[Array, Array]: ...

    def slopes(self, q1: Array, q2: Array) -> tuple[Array, Array]: ...


@dataclass(frozen=True, eq=False)
class Numerical(Activation):
    """φ given by φ, φ' and φ'' (vectorised numpy callables); expectations by quadrature."""

    phi: Function = field(default=np.tanh, repr=False)
    dphi: Function = field(default=np.tanh, repr=False)
    ddphi: Function = field(default=np.tanh, repr=False)
    #: the rule used above its threshold variance (None: the Mehler series everywhere)
    large: LargeVarianceRule | None = field(default=None, repr=False)

    def variance(self, q: ArrayLike) -> Array:
        return self._moment("V", lambda x: self.phi(x) ** 2, q)

    def variance_slope(self, q: ArrayLike) -> Array:
        return self._moment("dV", lambda x: self.dphi(x) ** 2 + self.phi(x) * self.ddphi(x), q)

    def derivative_variance(self, q: ArrayLike) -> Array:
        return self._moment("W", lambda x: self.dphi(x) ** 2, q)

    def _moment(self, kind: str, f: Function, q: ArrayLike) -> Array:
        q = as_array(q)
        if self.large is not None and np.any(q > self.large.threshold):
            out = np.empty(q.shape)
            big = q > self.large.threshold
            if not np.all(big):
                out[~big] = self._moment(kind, f, q[~big])
            out[big] = self.large.moments(q[big])[("V", "W", "dV").index(kind)]
            return out
        unique, inverse = np.unique(q, return_inverse=True)
        both = smooth.SQUARES.get((self.phi, self.dphi)) if kind in ("V", "W") else None

        def compute(missing: Array) -> list[Array]:
            if both is None:
                return list(expectation(f, missing)[:, None])
            v, w = expectations(both, missing)  # V and W from one pass: keep the other too
            self._remember(
                "W" if kind == "V" else "V",
                dict(zip(missing.tolist(), (w if kind == "V" else v)[:, None], strict=True)),
            )
            return list((v if kind == "V" else w)[:, None])

        rows = self._memoised(kind, unique, compute)
        values = np.array([row[0] for row in rows]) if rows else np.zeros(0)
        return values[inverse].reshape(q.shape)

    def _coefficients(self, what: str, f: Function, q: Array) -> Array:
        """Hermite rows of f(√q z) (q unique) to the longest series length K among them:
        the truncation error of Σ α_k(q1)α_k(q2) is then ≤ √(tail1·tail2) ≤ 1e-15·√(T1T2).

        The term count tried first is learnt from earlier rows (K/q of this function), so
        that most rows are computed once.
        """
        per_q = _TERMS_PER_Q.get(self._key(what), 0.0)
        fresh: dict[float, int] = {}  # series lengths of the rows computed now

        def compute(missing: Array) -> list[Array]:
            rows, lengths = coefficient_rows(f, missing, what, per_q * max(missing))
            fresh.update(zip(missing.tolist(), lengths.tolist(), strict=True))
            return rows

        rows = self._memoised(what, q, compute)
        widths = np.array([row.size for row in rows])
        lengths = np.array([fresh.get(v, 0) for v in q.tolist()], dtype=np.int64)
        for width in np.unique(widths[lengths == 0]):  # rows from the memo
            same = np.flatnonzero((widths == width) & (lengths == 0))
            lengths[same] = series_lengths(np.stack([rows[i] for i in same]))[0]
        _TERMS_PER_Q[self._key(what)] = max(per_q, float(np.max(lengths / (q + 0.1))))
        terms = int(np.max(lengths))
        short = np.flatnonzero(widths < terms)
        if short.size:
            longer = hermite_coefficients(f, q[short], what, terms)[0]
            for i, row in zip(short, longer, strict=True):
                rows[i] = row
            self._remember(what, {float(q[i]): rows[i] for i in short})
        return np.stack([row[:terms] for row in rows])

    def _memoised(
        self, kind: str, q: Array, compute: Callable[[Array], list[Array]]
    ) -> list[Array]:
        """Rows of ``compute`` for the unique values ``q``, from the memo where it has them.

        The rows are gathered before the memo may be cleared to make room, so a call never
        depends on what a full memo evicts.
        """
        if q.size == 0 or q.size > MEMO_SIZE:
            return list(compute(q))
        memo = _MEMO.get(self._key(kind), {})
        values = q.tolist()
        found = [memo.get(v) for v in values]
        missing = [v for v, row in zip(values, found, strict=True) if row is None]
        if not missing:
            return cast(list[Array], found)
        computed = dict(zip(missing, compute(np.array(missing)), strict=True))
        self._remember(kind, computed)
        return [computed[v] if row is None else row for v, row in zip(values, found, strict=True)]

    def _key(self, kind: str) -> tuple[object, ...]:
        return (self.name, tuple(sorted(self.params.items())), kind)

    def _remember(self, kind: str, computed: dict[float, Array]) -> None:
        if sum(map(len, _MEMO.values())) + len(computed) > MEMO_SIZE:
            _MEMO.clear()
        _MEMO.setdefault(self._key(kind), {}).update(computed)

    def correlation(self, q1: ArrayLike, q2: ArrayLike, q12: ArrayLike) -> Array:
        c, minus, _ = clipped_cosine_deficits(q1, q2, q12)
        return self._pairs(False, q1, q2, c, minus, False)[0]

    def derivative_correlation(self, q1: ArrayLike, q2: ArrayLike, q12: ArrayLike) -> Array:
        c, minus, _ = clipped_cosine_deficits(q1, q2, q12)
        return self._pairs(True, q1, q2, c, minus, False)[0]

    def correlation_deficit(self, q1: ArrayLike, q2: ArrayLike, delta: ArrayLike) -> Array:
        d = np.clip(as_array(delta), 0.0, 2.0)
        return self._pairs(False, q1, q2, d, d, True)[1]  # c = 1 − δ, formed in the sums

    def derivative_correlation_deficit(
        self, q1: ArrayLike, q2: ArrayLike, delta: ArrayLike
    ) -> Array:
        d = np.clip(as_array(delta), 0.0, 2.0)
        return self._pairs(True, q1, q2, d, d, True)[1]  # c = 1 − δ, formed in the sums

    def small_deficit_slopes(self, q1: ArrayLike, q2: ArrayLike) -> tuple[Array, Array, float]:
        """a = Σ k α_k α'_k and b = Σ k β_k β'_k (from 1 − c^k ≈ k δ); above the large-q
        threshold √(q1q2)·E[φ'φ'] and √(q1q2)·E[φ''φ''] at c = 1."""
        q1, q2 = np.broadcast_arrays(as_array(q1), as_array(q2))
        big = self._big(q1, q2)
        if self.large is None or not np.any(big):
            return self._slope(self.phi, "φ", q1, q2), self._slope(self.dphi, "φ'", q1, q2), 1.0
        a, b = np.empty(q1.shape), np.empty(q1.shape)
        if not np.all(big):
            a[~big] = self._slope(self.phi, "φ", q1[~big], q2[~big])
            b[~big] = self._slope(self.dphi, "φ'", q1[~big], q2[~big])
        a[big], b[big] = self.large.slopes(q1[big], q2[big])
        return a, b, 1.0

    def _big(self, q1: Array, q2: Array) -> Mask:
        """Entries for the large-variance rule: max(q1, q2) above its threshold."""
        if self.large is None:
            return np.zeros(q1.shape, dtype=bool)
        return np.maximum(q1, q2) > self.large.threshold

    def _pairs(
        self,
        derivative: bool,
        q1: ArrayLike,
        q2: ArrayLike,
        c: Array,
        d: Array,
        want_deficit: bool,
    ) -> tuple[Array, Array]:
        """(E[f(u)f(v)], its deficit) for f = φ or φ': Mehler below the large-variance
        threshold, the large-variance rule above it. With ``want_deficit`` c is not read
        (c = 1 − d is formed where it is needed)."""
        f, what = (self.dphi, "φ'") if derivative else (self.phi, "φ")
        q1, q2 = as_array(q1), as_array(q2)
        shape = np.broadcast_shapes(q1.shape, q2.shape, c.shape, d.shape)
        if self.large is None or max(np.max(q1, initial=0.0), np.max(q2, initial=0.0)) <= (
            self.large.threshold
        ):
            return self._series(f, what, q1, q2, c, d, want_deficit)
        big = self._big(*np.broadcast_arrays(q1, q2))
        q1f, q2f, cf, df = (np.broadcast_to(x, shape) for x in (q1, q2, c, d))
        big = np.broadcast_to(big, shape)
        value, deficit = np.empty(shape), np.empty(shape)
        small = ~big
        if np.any(small):
            value[small], deficit[small] = self._series(
                f, what, q1f[small], q2f[small], cf[small], df[small], want_deficit
            )
        value[big], deficit[big] = self.large.pairs(
            derivative, q1f[big], q2f[big], df[big], want_deficit
        )
        return value, deficit

    def _slope(self, f: Function, what: str, q1: ArrayLike, q2: ArrayLike) -> Array:
        q1, q2 = np.broadcast_arrays(as_array(q1), as_array(q2))
        unique, inverse = np.unique(np.concatenate([q1.ravel(), q2.ravel()]), return_inverse=True)
        coefficients = self._coefficients(what, f, unique)
        weighted = coefficients * np.arange(coefficients.shape[1])
        rows1 = inverse[: q1.size]
        rows2 = inverse[q1.size :]
        return np.einsum("pk,pk->p", weighted[rows1], coefficients[rows2]).reshape(q1.shape)

    def _series(
        self,
        f: Function,
        what: str,
        q1: ArrayLike,
        q2: ArrayLike,
        c: Array,
        d: Array,
        want_deficit: bool,
    ) -> tuple[Array, Array]:
        """Mehler sum and deficit over the broadcast shape, coefficients per distinct q."""
        q1, q2 = as_array(q1), as_array(q2)
        shape = np.broadcast_shapes(q1.shape, q2.shape, c.shape, d.shape)
        unique, inverse = np.unique(np.concatenate([q1.ravel(), q2.ravel()]), return_inverse=True)
        coefficients = self._coefficients(what, f, unique)
        if unique.size == 1 and want_deficit and d.size >= mehler.ONE_ROW_FROM:
            deficit = mehler.one_row_deficits(coefficients[0], np.broadcast_to(d, shape))
            if deficit is not None:
                return np.zeros(shape), deficit
        terms = mehler.Terms.of(coefficients)
        rows1 = inverse[: q1.size].reshape(q1.shape)
        rows2 = inverse[q1.size :].reshape(q2.shape)
        if _outer(rows1, rows2, c, d, shape):
            symmetric = _symmetric(rows1, rows2, c, d, want_deficit)
            return mehler.outer_sums(
                terms, rows1.ravel(), rows2.ravel(), c, d, want_deficit, symmetric
            )
        value, deficit = mehler.flat_sums(
            terms,
            np.ascontiguousarray(np.broadcast_to(rows1, shape)).ravel(),
            np.ascontiguousarray(np.broadcast_to(rows2, shape)).ravel(),
            np.ascontiguousarray(np.broadcast_to(c, shape)).ravel(),
            np.ascontiguousarray(np.broadcast_to(d, shape)).ravel(),
            want_deficit,
        )
        return value.reshape(shape), deficit.reshape(shape)


def _outer(rows1: Indices, rows2: Indices, c: Array, d: Array, shape: tuple[int, ...]) -> bool:
    """An [n1, n2] kernel: rows1 of shape [n1, 1], rows2 [1, n2], c and δ full."""
    return (
        len(shape) == 2
        and rows1.shape == (shape[0], 1)
        and rows2.shape == (1, shape[1])
        and c.shape == shape
        and d.shape == shape
    )


def _symmetric(rows1: Indices, rows2: Indices, c: Array, d: Array, c_from_d: bool) -> bool:
    """An [n, n] kernel with rows1 = rows2ᵀ and c, δ symmetric (computed once per pair);
    ``c_from_d``: c = 1 − δ, symmetric with δ."""
    if c.shape[0] != c.shape[1] or c.shape[0] < 2:
        return False
    return bool(
        np.array_equal(rows1.ravel(), rows2.ravel())
        and np.array_equal(d, d.T)
        and (c_from_d or np.array_equal(c, c.T))
    )
