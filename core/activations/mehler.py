"""Mehler sums of many entries, vectorised across the entries that share a point.

With Hermite rows α_k of a function f at the variances of two points a, b (see
:mod:`core.activations.numerical`, whose module doc gives the formulas and the choice
between them), an entry with correlation c = 1 − δ needs

    S = Σ_k c^k α_k(a) α_k(b)    or its deficit    √(T_aT_b) − S,    T = Σ_k α_k².

Terms. Only k = o + s·j (j = 0, 1, …) are summed: s = 2 where f is odd (o = 1) or even
(o = 0), whose other coefficients are exactly 0 (:func:`kept_terms`); else s = 1, o = 0.
A *table* holds the kept coefficients, zero-padded to a multiple of ``GROUP`` terms.

Layout. A call is a list of *segments*: point a of side 1 against a run of points of
side 2 (one row of an [n1, n2] kernel, or a run of a flat list of entries). Side 1's
table is [term, point]; side 2's is cut into blocks of ``BLOCK`` points, [block, term,
lane], so that the inner loop runs with unit stride over the lanes (entries) of a block,
``GROUP`` terms per pass, and the compiler vectorises it across entries.

Per block:

* plain sums S for the entries that take them (all of them when no deficit is wanted):
  the block stops after the first group of terms at which every such entry's remainder
  bound |c|^k √(tail_a tail_b) (Cauchy–Schwarz; tail = Σ of the squares still to come)
  is below 1.1e-16 of its partial sum; the deficit is then √(T_aT_b) − S;
* the full deficit form for the others (entries near c = 1):
  Σ_k α_k(a)α_k(b)(1 − c^k), with 1 − c^{k+s} = (1 − c^s) + c^s(1 − c^k) and 1 − c² =
  δ(2 − δ), plus the norm mismatch √(T_aT_b) − Σ_k α_k(a)α_k(b) where the angular part
  is ≥ 1/100 of √(T_aT_b), else ½ Σ_k (α_k(a) − α_k(b))² − ½(√T_a − √T_b)² (0 when a and
  b have the same variance).

A call computes either the sums or the deficits (the other is returned as 0); deficits
read δ only (c = 1 − δ is formed per entry).

One variance. Where every point has the same variance (deep layers, once the diagonals
have settled) the deficit of an entry is a function of its δ alone, D(δ) = Σ_k α_k²(1 −
(1 − δ)^k) = δ·h(δ), with h a polynomial of degree < K, smooth on [0, max δ]: it is
interpolated there (Chebyshev, degree 12 or 24, accepted when converged and checked
halfway between the nodes; h at the nodes summed from 1 − c^k without cancellation) and
each entry costs one Clenshaw sum (:func:`one_row_deficits`). Against every term summed
in long double it is within 2e-15 relative (the blocked full form: up to ~1e-12 at δ ~
1e-12).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
from numba import uint64
from numpy.typing import NDArray
from scipy.fft import dct

from core.activations.base import Array

Indices = NDArray[np.int64]

#: entries summed together (lanes of a block)
BLOCK = 64
#: terms per pass over the lanes (tables are padded to a multiple)
GROUP = 8
#: a plain sum stops once the bound on its remainder is below STOP of its partial sum
STOP = 1.1e-16
#: the full deficit form is used where its bound is below 1/FULL_BELOW of √(T_aT_b)
FULL_BELOW = 64.0
#: above this share of √(T_aT_b) the angular part makes the norm mismatch harmless
MISMATCH_SHARE = 1e-2
#: calls with fewer entries run in one thread
PARALLEL_ENTRIES = 65536
#: flat calls are cut into chunks of at most this many table elements (side 2's copy)
CHUNK_ELEMENTS = 1 << 22
#: deficits of one variance for at least this many entries: from an interpolant in δ
ONE_ROW_FROM = 4096
#: Chebyshev degrees tried for h(δ) = D(δ)/δ on [0, δ_max]
ONE_ROW_DEGREES = (12, 24)
#: the interpolant of h is used where its last three Chebyshev coefficients are below
#: ONE_ROW_TAIL of max h and it is within ONE_ROW_CHECK of h halfway between the nodes
ONE_ROW_TAIL = 5e-16
ONE_ROW_CHECK = 2e-15
#: entries per pass of the compiled Clenshaw sums (lanes)
LANES = 256


@dataclass(frozen=True)
class Terms:
    """The kept terms k = offset + stride·j of coefficient rows [row, k] (see module doc).

    ``table`` [row, j] (zero-padded to a multiple of GROUP), ``suffix`` [row, g] =
    √(Σ_{j ≥ g·GROUP} table²) at each group's first term, with one more column (0),
    ``norms`` √T and ``share`` the part of T outside k = 0, per row.
    """

    table: Array
    suffix: Array
    norms: Array
    share: Array
    offset: int
    stride: int

    @classmethod
    def of(cls, coef: Array) -> Terms:
        offset, stride = kept_terms(coef)
        kept = coef[:, offset::stride]
        width = -(-kept.shape[1] // GROUP) * GROUP
        table = np.zeros((coef.shape[0], width))
        table[:, : kept.shape[1]] = kept
        # tails[:, i] = Σ_{j ≥ width − 1 − i} table², summed in order from the last term
        tails = np.cumsum(np.square(table[:, ::-1]), axis=1)
        groups = width // GROUP
        suffix = np.zeros((coef.shape[0], groups + 1))
        suffix[:, :groups] = np.sqrt(tails[:, width - 1 :: -GROUP])
        total = tails[:, -1] if width else np.zeros(coef.shape[0])
        first = coef[:, 0] * coef[:, 0]
        safe = np.where(total > 0.0, total, 1.0)
        share = np.where(total > 0.0, np.clip((total - first) / safe, 0.0, 1.0), 1.0)
        return cls(table, suffix, np.sqrt(total), share, offset, stride)


def kept_terms(coef: Array) -> tuple[int, int]:
    """(offset, stride) of the terms that are not all exactly 0: odd k only, even k only,
    or all of them."""
    if coef.shape[1] > 1 and not np.any(coef[:, 0::2]):
        return 1, 2
    if coef.shape[1] > 1 and not np.any(coef[:, 1::2]):
        return 0, 2
    return 0, 1


@dataclass(frozen=True)
class _Side:
    """Per point: table and suffix (side 1: [point, term] and [point, group]; side 2:
    [block, term, lane] and [block, group, lane]),
    ``points`` [3, point] = (√T, √(1 − share), √share), and the row of each point."""

    table: Array
    suffix: Array
    points: Array
    rows: Indices


def _side(terms: Terms, rows: Indices, blocked: bool) -> _Side:
    points = np.stack(
        [terms.norms[rows], np.sqrt(1.0 - terms.share[rows]), np.sqrt(terms.share[rows])]
    )
    if not blocked:
        return _Side(terms.table[rows], terms.suffix[rows], points, rows)
    count = -(-rows.size // BLOCK)
    padded = np.zeros(count * BLOCK, dtype=np.int64)
    padded[: rows.size] = rows
    table = terms.table[padded].reshape(count, BLOCK, -1).transpose(0, 2, 1)
    suffix = terms.suffix[padded].reshape(count, BLOCK, -1).transpose(0, 2, 1)
    return _Side(np.ascontiguousarray(table), np.ascontiguousarray(suffix), points, rows)


def outer_sums(
    terms: Terms,
    rows1: Indices,
    rows2: Indices,
    c: Array,
    d: Array,
    want_deficit: bool,
    symmetric: bool,
) -> tuple[Array, Array]:
    """(S, deficit) of the [n1, n2] entries between points of rows ``rows1`` and
    ``rows2`` (the one not wanted 0); ``symmetric``: rows1 = rows2 and c, δ symmetric,
    each pair summed once."""
    n1, n2 = rows1.size, rows2.size
    first = np.arange(n1) if symmetric else np.zeros(n1, dtype=np.int64)
    order = np.arange(n1)
    if symmetric:  # rows a and n − 1 − a adjacent: equal work per thread
        order = np.stack([order, order[::-1]], axis=1).ravel()[:n1]
    segments = np.stack([order, first[order], np.full(n1, n2), order * n2 + first[order]], 1)
    result = _run(
        _side(terms, rows1, False),
        _side(terms, rows2, True),
        segments,
        np.ascontiguousarray(c).ravel(),
        np.ascontiguousarray(d).ravel(),
        want_deficit,
        terms,
        n2 if symmetric else 0,
        n1 * n2,
    )
    return _pair(result.reshape(n1, n2), want_deficit)


def flat_sums(
    terms: Terms, rows1: Indices, rows2: Indices, c: Array, d: Array, want_deficit: bool
) -> tuple[Array, Array]:
    """(S, deficit) per entry of flat arrays (the one not wanted 0); runs of equal
    ``rows1`` form segments."""
    size = c.size
    result = np.empty(size)
    chunk = max(BLOCK, CHUNK_ELEMENTS // max(terms.table.shape[1], 1))
    for start in range(0, size, chunk):
        part = slice(start, min(start + chunk, size))
        r1, r2 = rows1[part], rows2[part]
        count = r1.size
        breaks = np.flatnonzero(np.diff(r1)) + 1
        begin = np.concatenate([[0], breaks])
        end = np.concatenate([breaks, [count]])
        segments = np.stack([np.arange(begin.size), begin, end, begin], 1)
        result[part] = _run(
            _side(terms, r1[begin], False),
            _side(terms, r2, True),
            segments,
            np.ascontiguousarray(c[part]),
            np.ascontiguousarray(d[part]),
            want_deficit,
            terms,
            0,
            count,
        )
    return _pair(result, want_deficit)


def _pair(result: Array, want_deficit: bool) -> tuple[Array, Array]:
    """(S, deficit), the one not asked for 0."""
    zeros = np.zeros(result.shape)
    return (zeros, result) if want_deficit else (result, zeros)


def _run(
    side1: _Side,
    side2: _Side,
    segments: Indices,
    c: Array,
    d: Array,
    want_deficit: bool,
    terms: Terms,
    mirror: int,
    size: int,
) -> Array:
    """The sums (or deficits, ``want_deficit``) of the flat entries of the segments."""
    entries = int(np.sum(segments[:, 2] - segments[:, 1]))
    kernel = _sums_parallel if entries >= PARALLEL_ENTRIES else _sums_serial
    result = np.empty(size)
    kernel(
        side1.table,
        side1.suffix,
        side1.points,
        side1.rows,
        side2.table,
        side2.suffix,
        side2.points,
        side2.rows,
        np.ascontiguousarray(segments, dtype=np.int64),
        c,
        d,
        want_deficit,
        terms.offset,
        terms.stride,
        mirror,
        result,
    )
    return result


_OPTIONS: dict[str, Any] = {"cache": True, "error_model": "numpy", "boundscheck": False}
#: the group sums may fuse a·b + c into one rounding (FMA): only more accurate
_GROUP_OPTIONS: dict[str, Any] = {**_OPTIONS, "fastmath": {"contract"}}

# The compiled functions index whole arrays and take views only once per segment (each
# view costs an atomic reference count); indices of the form base + t are cast to uint64,
# which numba does not wrap around, so that the loops over t vectorise. The three group
# functions write out GROUP = 8 terms by hand: one pass over the lanes per 8 terms, the
# lanes' running values in registers across them. Per lane (entry of a block) the
# scratch rows of a segment hold:
#   cs, ds: c and δ;  kind (see _segment);  acc: the plain sum;  power: c^k at the group's
#   first term k;  factor: c^s;  factor8: c^{8s};  angular: the full form's angular part;
#   inner: Σ α_k(a)α_k(b);  gap: 1 − c^k;  squares: Σ (α_k(a) − α_k(b))²;
#   steps[u]: 1 − c^{s(u+1)}, u = 0 … 7.
_ROWS = 11


@numba.njit(**_GROUP_OPTIONS)
def _plain_group(
    x: Array,
    a: int,
    w: Array,
    block: int,
    j: int,
    acc: Array,
    power: Array,
    factor: Array,
    factor8: Array,
) -> None:
    """Terms j … j + 7 of the plain sums of a block, by Horner's rule in c^s within the
    group: acc += c^k Σ_u c^{su} x_{j+u} w_{j+u}."""
    x0, x1, x2, x3 = x[a, j], x[a, j + 1], x[a, j + 2], x[a, j + 3]
    x4, x5, x6, x7 = x[a, j + 4], x[a, j + 5], x[a, j + 6], x[a, j + 7]
    for t in range(BLOCK):
        f = factor[t]
        h = x7 * w[block, j + 7, t]
        h = h * f + x6 * w[block, j + 6, t]
        h = h * f + x5 * w[block, j + 5, t]
        h = h * f + x4 * w[block, j + 4, t]
        h = h * f + x3 * w[block, j + 3, t]
        h = h * f + x2 * w[block, j + 2, t]
        h = h * f + x1 * w[block, j + 1, t]
        h = h * f + x0 * w[block, j, t]
        acc[t] += power[t] * h
        power[t] *= factor8[t]


@numba.njit(**_GROUP_OPTIONS)
def _full_group(
    x: Array,
    a: int,
    w: Array,
    block: int,
    j: int,
    angular: Array,
    inner: Array,
    gap: Array,
    power: Array,
    factor8: Array,
    steps: Array,
) -> None:
    """Terms j … j + 7 of the full deficit form: with G = 1 − c^k and P = c^k at the
    group's first term, 1 − c^{k+su} = G + P(1 − c^{su}), so the angular sum gains
    G Σ_u ab_u + P Σ_u (1 − c^{su}) ab_u (ab_u = x_{j+u} w_{j+u}; inner gains Σ_u ab_u)."""
    x0, x1, x2, x3 = x[a, j], x[a, j + 1], x[a, j + 2], x[a, j + 3]
    x4, x5, x6, x7 = x[a, j + 4], x[a, j + 5], x[a, j + 6], x[a, j + 7]
    for t in range(BLOCK):
        a0 = x0 * w[block, j, t]
        a1 = x1 * w[block, j + 1, t]
        a2 = x2 * w[block, j + 2, t]
        a3 = x3 * w[block, j + 3, t]
        a4 = x4 * w[block, j + 4, t]
        a5 = x5 * w[block, j + 5, t]
        a6 = x6 * w[block, j + 6, t]
        a7 = x7 * w[block, j + 7, t]
        n = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))
        m = ((a1 * steps[0, t] + a2 * steps[1, t]) + (a3 * steps[2, t] + a4 * steps[3, t])) + (
            (a5 * steps[4, t] + a6 * steps[5, t]) + a7 * steps[6, t]
        )
        p = power[t]
        angular[t] += gap[t] * n + p * m
        inner[t] += n
        gap[t] += p * steps[7, t]
        power[t] = p * factor8[t]


@numba.njit(**_GROUP_OPTIONS)
def _difference_group(x: Array, a: int, w: Array, block: int, j: int, squares: Array) -> None:
    """Terms j … j + 7 of Σ (x_j − w_j)² per lane."""
    x0, x1, x2, x3 = x[a, j], x[a, j + 1], x[a, j + 2], x[a, j + 3]
    x4, x5, x6, x7 = x[a, j + 4], x[a, j + 5], x[a, j + 6], x[a, j + 7]
    for t in range(BLOCK):
        e0 = x0 - w[block, j, t]
        e1 = x1 - w[block, j + 1, t]
        e2 = x2 - w[block, j + 2, t]
        e3 = x3 - w[block, j + 3, t]
        e4 = x4 - w[block, j + 4, t]
        e5 = x5 - w[block, j + 5, t]
        e6 = x6 - w[block, j + 6, t]
        e7 = x7 - w[block, j + 7, t]
        squares[t] += ((e0 * e0 + e1 * e1) + (e2 * e2 + e3 * e3)) + (
            (e4 * e4 + e5 * e5) + (e6 * e6 + e7 * e7)
        )


@numba.njit(**_OPTIONS)
def _segment(
    table1: Array,
    suffix1: Array,
    points1: Array,
    rows1: Indices,
    table2: Array,
    suffix2: Array,
    points2: Array,
    rows2: Indices,
    segments: Indices,
    index: int,
    c: Array,
    d: Array,
    want_deficit: bool,
    offset: int,
    stride: int,
    result: Array,
) -> None:
    """Segment (a, lo, hi, out) = segments[index]: point a of side 1 against side-2 points
    lo … hi − 1, entries out … out + hi − lo − 1 of the flat arrays, block by block."""
    a, lo, hi, out = segments[index, 0], segments[index, 1], segments[index, 2], segments[index, 3]
    work = np.empty((_ROWS + 8, BLOCK))
    cs, ds, kind, acc, power, factor, factor8 = (
        work[0],
        work[1],
        work[2],
        work[3],
        work[4],
        work[5],
        work[6],
    )
    angular, inner, gap, squares = work[7], work[8], work[9], work[10]
    steps = work[_ROWS:]
    terms = table2.shape[1]
    root1, share1, norm1, row1 = points1[1, a], points1[2, a], points1[0, a], rows1[a]
    start = lo
    while start < hi:
        block = start // BLOCK
        base = block * BLOCK
        first, last = start - base, min(hi - base, BLOCK)
        shift = out - lo + base  # the entry of lane t is shift + t
        start = base + last
        # kind per lane: 0 no entry, 1 plain sum, 2 full form, 3 full form and mismatch,
        # 4 the full form's 0 (δ = 0 at one variance)
        cs[:] = 0.0
        ds[:] = 0.0
        kind[:] = 0.0
        plain = 0
        full = 0
        for t in range(first, last):
            entry, b = uint64(shift + t), uint64(base + t)
            dt = d[entry]
            ct = 1.0 - dt if want_deficit else c[entry]  # c = 1 − δ: not read
            bound = 1.0 - root1 * points2[1, b] - abs(ct) * (share1 * points2[2, b])
            is_plain = (not want_deficit) | (bound * FULL_BELOW >= 1.0)
            zero = (dt == 0.0) & (row1 == rows2[b])
            kind[t] = 1.0 if is_plain else (4.0 if zero else 2.0)
            cs[t] = ct
            ds[t] = dt
            plain += is_plain
            full += (not is_plain) & (not zero)
        if plain:
            _plain_sums(
                table1,
                suffix1,
                a,
                table2,
                suffix2,
                block,
                terms,
                cs,
                kind,
                offset,
                stride,
                acc,
                power,
                factor,
                factor8,
            )
        if full:
            mismatch = _full_sums(
                table1,
                a,
                table2,
                block,
                terms,
                ds,
                kind,
                offset,
                stride,
                norm1,
                points2,
                rows2,
                row1,
                base,
                angular,
                inner,
                gap,
                power,
                factor8,
                steps,
            )
            if mismatch:
                squares[:] = 0.0
                for j in range(0, terms, GROUP):
                    _difference_group(table1, a, table2, block, j, squares)
        for t in range(first, last):
            entry, b = uint64(shift + t), uint64(base + t)
            scale = norm1 * points2[0, b]
            k = kind[t]
            if not want_deficit:
                result[entry] = acc[t]
                continue
            plain_deficit = max(scale - acc[t], 0.0)
            root_gap = norm1 - points2[0, b]
            half = max(0.5 * squares[t] - 0.5 * root_gap * root_gap, 0.0) if k == 3.0 else 0.0
            result[entry] = plain_deficit if k == 1.0 else (0.0 if k == 4.0 else angular[t] + half)


@numba.njit(**_OPTIONS)
def _plain_sums(
    table1: Array,
    suffix1: Array,
    a: int,
    table2: Array,
    suffix2: Array,
    block: int,
    terms: int,
    cs: Array,
    kind: Array,
    offset: int,
    stride: int,
    acc: Array,
    power: Array,
    factor: Array,
    factor8: Array,
) -> None:
    """Plain sums of the lanes of kind 1 into acc (see module doc)."""
    for t in range(BLOCK):
        ct = cs[t] if kind[t] == 1.0 else 0.0
        f = ct * ct if stride == 2 else ct
        f2 = f * f
        f4 = f2 * f2
        factor[t] = f
        factor8[t] = f4 * f4
        acc[t] = 0.0
        power[t] = ct if offset == 1 else (1.0 if kind[t] == 1.0 else 0.0)
    for j in range(0, terms, GROUP):
        _plain_group(table1, a, table2, block, j, acc, power, factor, factor8)
        # a lane whose remainder is below STOP of its sum stops (power set to 0)
        following = j // GROUP + 1
        bound = suffix1[a, following] / STOP
        pending = 0
        for t in range(BLOCK):
            p = power[t]
            going = abs(p) * (bound * suffix2[block, following, t]) > abs(acc[t])
            power[t] = p if going else 0.0
            pending += going
        if pending == 0:
            return


@numba.njit(**_OPTIONS)
def _full_sums(
    table1: Array,
    a: int,
    table2: Array,
    block: int,
    terms: int,
    ds: Array,
    kind: Array,
    offset: int,
    stride: int,
    norm1: float,
    points2: Array,
    rows2: Indices,
    row1: int,
    base: int,
    angular: Array,
    inner: Array,
    gap: Array,
    power: Array,
    factor8: Array,
    steps: Array,
) -> int:
    """Angular parts of the full deficit form into ``angular``, with the norm mismatch
    √(T_aT_b) − Σ α_k(a)α_k(b) added where it keeps its digits; the other lanes of
    kind 2 become kind 3 (their count is returned): they need ½Σ(α(a) − α(b))²."""
    for t in range(BLOCK):
        dt = ds[t] if kind[t] == 2.0 else 0.0
        ct = 1.0 - dt
        f = ct * ct if stride == 2 else ct
        f2 = f * f
        f4 = f2 * f2
        factor8[t] = f4 * f4
        one_minus_c2 = dt * (2.0 - dt)
        # 1 − c^s, 1 − c^{2s}, then 1 − c^{s(u+2)} = (1 − c^{2s}) + c^{2s}(1 − c^{su})
        one = one_minus_c2 if stride == 2 else dt
        two = one_minus_c2 * (1.0 + ct * ct) if stride == 2 else one_minus_c2
        steps[0, t] = one
        steps[1, t] = two
        for u in range(2, 8):
            steps[u, t] = two + f2 * steps[u - 2, t]
        angular[t] = 0.0
        inner[t] = 0.0
        gap[t] = dt if offset == 1 else 0.0
        power[t] = ct if offset == 1 else 1.0
    for j in range(0, terms, GROUP):
        _full_group(table1, a, table2, block, j, angular, inner, gap, power, factor8, steps)
    mismatch = 0
    for t in range(BLOCK):
        if kind[t] == 2.0:
            b = uint64(base + t)
            scale = norm1 * points2[0, b]
            value = max(angular[t], 0.0)
            if row1 != rows2[b] and value >= MISMATCH_SHARE * scale:
                value += max(scale - inner[t], 0.0)
            elif row1 != rows2[b]:
                kind[t] = 3.0
                mismatch += 1
            angular[t] = value
    return mismatch


@numba.njit(**_OPTIONS)
def _mirror(result: Array, n: int) -> None:
    """Entries (b, a) = (a, b) for b > a of the flat [n, n] array, in square tiles."""
    tile = 32
    for i0 in range(0, n, tile):
        for j0 in range(i0, n, tile):
            for i in range(i0, min(i0 + tile, n)):
                for j in range(max(j0, i + 1), min(j0 + tile, n)):
                    result[j * n + i] = result[i * n + j]


@numba.njit(parallel=True, **_OPTIONS)
def _sums_parallel(
    table1: Array,
    suffix1: Array,
    points1: Array,
    rows1: Indices,
    table2: Array,
    suffix2: Array,
    points2: Array,
    rows2: Indices,
    segments: Indices,
    c: Array,
    d: Array,
    want_deficit: bool,
    offset: int,
    stride: int,
    mirror: int,
    result: Array,
) -> None:
    """Every segment (rows of ``segments``), in threads; ``mirror`` = n: then entries
    (b, a) of [n, n] from (a, b)."""
    for s in numba.prange(segments.shape[0]):
        _segment(
            table1,
            suffix1,
            points1,
            rows1,
            table2,
            suffix2,
            points2,
            rows2,
            segments,
            s,
            c,
            d,
            want_deficit,
            offset,
            stride,
            result,
        )
    if mirror:
        _mirror(result, mirror)


@numba.njit(**_OPTIONS)
def _sums_serial(
    table1: Array,
    suffix1: Array,
    points1: Array,
    rows1: Indices,
    table2: Array,
    suffix2: Array,
    points2: Array,
    rows2: Indices,
    segments: Indices,
    c: Array,
    d: Array,
    want_deficit: bool,
    offset: int,
    stride: int,
    mirror: int,
    result: Array,
) -> None:
    """As :func:`_sums_parallel` in one thread (small calls: no thread-pool start-up)."""
    for s in range(segments.shape[0]):
        _segment(
            table1,
            suffix1,
            points1,
            rows1,
            table2,
            suffix2,
            points2,
            rows2,
            segments,
            s,
            c,
            d,
            want_deficit,
            offset,
            stride,
            result,
        )
    if mirror:
        _mirror(result, mirror)


def one_row_deficits(coef: Array, d: Array) -> Array | None:
    """Deficits D(δ) = Σ_k α_k²(1 − (1 − δ)^k) of one coefficient row α at every δ of
    ``d`` (the full form of an entry whose two points share one variance, at every δ), as
    δ·h(δ) with h the Chebyshev interpolant of D(δ)/δ on [0, max δ] (Lobatto nodes, degree
    12 or 24; h at the nodes summed from 1 − c^k without cancellation, to a few ulps).
    None where the interpolant has not converged (ONE_ROW_TAIL, ONE_ROW_CHECK)."""
    top = float(np.max(d, initial=0.0))
    if not top > 0.0:
        return np.zeros(d.shape)
    squares = coef * coef
    for degree in ONE_ROW_DEGREES:
        nodes = 0.5 * top * (1.0 + np.cos(np.pi * np.arange(degree + 1) / degree))
        values = _ratio(squares, nodes)
        chebyshev = dct(values, type=1) / degree
        chebyshev[0] /= 2.0
        chebyshev[-1] /= 2.0
        halfway = np.cos(np.pi * (np.arange(degree) + 0.5) / degree)
        want = _ratio(squares, 0.5 * top * (1.0 + halfway))
        got = np.polynomial.chebyshev.chebval(halfway, chebyshev)
        converged = np.max(np.abs(chebyshev[-3:])) <= ONE_ROW_TAIL * np.max(values)
        if converged and np.all(np.abs(got - want) <= ONE_ROW_CHECK * want):
            out = np.empty(d.size)
            _clenshaw_deficits(np.ascontiguousarray(d).ravel(), chebyshev, 2.0 / top, out)
            return out.reshape(d.shape)
    return None


def _ratio(squares: Array, delta: Array) -> Array:
    """h(δ) = Σ_k α_k²(1 − c^k)/δ at c = 1 − δ (Σ_k k α_k² at δ = 0), every term ≥ 0:
    1 − c^k = −expm1(k log|c|) where c^k > 0, 1 + |c|^k where c^k < 0."""
    k = np.arange(squares.size, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_abs = np.where(delta <= 1.0, np.log1p(-np.minimum(delta, 1.0)), np.log1p(delta - 2.0))
        power = k * log_abs[:, None]
        power[:, 0] = 0.0
        negative = (delta[:, None] > 1.0) & (k % 2 == 1)
        gap = np.where(negative, 1.0 + np.exp(power), -np.expm1(power))
        ratio = (gap @ squares) / np.where(delta > 0.0, delta, 1.0)
    return np.where(delta > 0.0, ratio, k @ squares)


@numba.njit(parallel=True, **_GROUP_OPTIONS)
def _clenshaw_deficits(d: Array, chebyshev: Array, scale: float, out: Array) -> None:
    """out = δ·Σ_j chebyshev_j T_j(δ·scale − 1) (Clenshaw), LANES entries per pass."""
    size = d.size
    top = chebyshev.size - 1
    for chunk in numba.prange((size + LANES - 1) // LANES):
        lo = chunk * LANES
        count = min(LANES, size - lo)
        x = np.empty(LANES)
        b1 = np.zeros(LANES)
        b2 = np.zeros(LANES)
        for t in range(count):
            x[t] = d[lo + t] * scale - 1.0
        for j in range(top, 0, -1):
            cj = chebyshev[j]
            for t in range(count):
                b0 = 2.0 * x[t] * b1[t] - b2[t] + cj
                b2[t] = b1[t]
                b1[t] = b0
        for t in range(count):
            out[lo + t] = d[lo + t] * (x[t] * b1[t] - b2[t] + chebyshev[0])
