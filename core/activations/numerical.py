"""Activations without closed forms: Gaussian expectations by quadrature (Mehler series).

One-dimensional expectations E[f(√q z)] use the trapezoidal rule in z on [−75, 75] with
step 1/40 (6001 nodes). For f analytic in a strip |Im x| < a (tanh: a = π/2) the error
is ~exp(−2π a/(40·√q)·…): below 1e-15 relative for q ≲ 50.

Two-dimensional expectations use Mehler's expansion in the orthonormal Hermite
polynomials h_k: with α_k(q) = E[φ(√q z) h_k(z)],

    E[φ(u) φ(v)] = Σ_k c^k α_k(q1) α_k(q2),

and likewise with β_k(q) = E[φ'(√q z) h_k(z)] for E[φ'(u) φ'(v)]. The coefficients are
computed once per distinct variance q (by the 1-D rule above, through the Hermite
functions ψ_k(z) = h_k(z) e^{−z²/4}/(2π)^{1/4}), so a kernel layer with n1 + n2 distinct
diagonals costs n1 + n2 one-dimensional quadratures plus K terms per entry. The series is
truncated at the first K where the tail Σ_{k≥K} α_k² is below ``TAIL`` · V(q): the error
of every expectation is then ≤ 1e-14 relative, for every c in [−1, 1]. K grows linearly
with q (tanh: K ≈ 110 q); beyond ``MAX_TERMS`` a :class:`NumericalError` is raised rather
than a less accurate number returned.

Deficits need no cancellation: with T = Σ_{k<K} α_k² (the truncated V),

    √(T1T2) − E[φ(u)φ(v)] = Σ_k α_k(q1)α_k(q2)(1 − c^k)
                            + ½ Σ_k (α_k(q1) − α_k(q2))² − ½(√T1 − √T2)²,

with 1 − c^{k+1} = δ + c(1 − c^k) accumulated from δ = 1 − c.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import cast

import numba
import numpy as np
from numpy.typing import ArrayLike

from core.activations.base import Activation, Array, as_array, clipped_cosine_deficits
from core.errors import NumericalError

#: trapezoidal step and half-width of the z grid
STEP = 1.0 / 40.0
HALF_WIDTH = 75.0
#: most Hermite terms kept (the grid resolves ψ_k to 1e-15 for k ≲ 900)
MAX_TERMS = 700
#: relative tail Σ_{k≥K} α_k² / V at which the series is truncated
TAIL = 1e-15
#: rows of q evaluated at once (bounds the temporary [rows, 6001] array)
CHUNK = 256

Function = Callable[[Array], Array]

#: per-(activation, function, q) memo of Hermite coefficients and moments: a deep network's
#: variances settle on a fixed point, after which every layer reuses the same rows
_MEMO: dict[tuple[object, ...], Array] = {}
MEMO_SIZE = 4096


@cache
def _grid() -> tuple[Array, Array]:
    """z nodes and the Hermite functions ψ_k(z_j)·√STEP, shape [MAX_TERMS, nodes]."""
    count = round(HALF_WIDTH / STEP)
    z = np.arange(-count, count + 1, dtype=np.float64) * STEP
    psi = np.empty((MAX_TERMS, z.size))
    psi[0] = np.exp(-z * z / 4) / (2 * np.pi) ** 0.25 * np.sqrt(STEP)
    psi[1] = z * psi[0]
    for k in range(1, MAX_TERMS - 1):
        psi[k + 1] = (z * psi[k] - np.sqrt(k) * psi[k - 1]) / np.sqrt(k + 1)
    z.setflags(write=False)
    psi.setflags(write=False)
    return z, psi


def expectation(f: Function, q: ArrayLike) -> Array:
    """E[f(√q z)], z ~ N(0, 1), elementwise over q ≥ 0 (trapezoidal rule)."""
    q = as_array(q)
    unique, inverse = np.unique(q, return_inverse=True)
    z, psi = _grid()
    weight = psi[0] * psi[0]
    out = np.empty(unique.size)
    for start in range(0, unique.size, CHUNK):
        roots = np.sqrt(np.maximum(unique[start : start + CHUNK], 0.0))
        out[start : start + CHUNK] = f(roots[:, None] * z) @ weight
    return out[inverse].reshape(q.shape)


def hermite_coefficients(f: Function, q: Array) -> Array:
    """α_k(q) = E[f(√q z) h_k(z)] for k < MAX_TERMS, shape [q.size, MAX_TERMS]."""
    z, psi = _grid()
    out = np.empty((q.size, MAX_TERMS))
    for start in range(0, q.size, CHUNK):
        roots = np.sqrt(np.maximum(q[start : start + CHUNK], 0.0))
        out[start : start + CHUNK] = (f(roots[:, None] * z) * psi[0]) @ psi.T
    return out


def series_length(coefficients: Array, what: str, q: Array) -> int:
    """Smallest K with Σ_{k≥K} α_k² ≤ TAIL · Σ_k α_k² for every row; NumericalError if none."""
    squares = coefficients * coefficients
    suffix = np.cumsum(squares[:, ::-1], axis=1)[:, ::-1]
    total = suffix[:, 0]
    converged = suffix <= TAIL * total[:, None]
    if not np.all(converged[:, -1]):
        worst = float(np.max(q[~converged[:, -1]]))
        raise NumericalError(
            f"the Hermite series of {what} does not converge to 1e-15 within {MAX_TERMS} "
            f"terms at pre-activation variance q = {worst:.6g}: the activation is too steep "
            "at this scale for the numerical quadrature (use smaller weight/input variances)"
        )
    return int(np.max(np.argmax(converged, axis=1))) + 1


@numba.njit(parallel=True, cache=True)
def _mehler(
    coef: Array, norms: Array, rows1: Array, rows2: Array, cosine: Array, delta: Array
) -> tuple[Array, Array]:
    """Σ_k c^k α_kα'_k and the deficit √(T T') − that sum, per entry (see module doc).

    ``coef`` [rows, K] are the truncated coefficients, ``norms`` their √T per row.
    """
    size = cosine.size
    terms = coef.shape[1]
    value = np.empty(size)
    deficit = np.empty(size)
    for p in numba.prange(size):
        i = rows1[p]
        j = rows2[p]
        c = cosine[p]
        d = delta[p]
        power = 1.0
        gap = 0.0  # 1 − c^k
        acc = 0.0
        angular = 0.0
        for k in range(terms):
            ab = coef[i, k] * coef[j, k]
            acc += power * ab
            angular += gap * ab
            gap = d + c * gap
            power *= c
        mismatch = 0.0
        if i != j:
            spread = 0.0
            for k in range(terms):
                diff = coef[i, k] - coef[j, k]
                spread += diff * diff
            root_gap = norms[i] - norms[j]
            mismatch = max(0.5 * spread - 0.5 * root_gap * root_gap, 0.0)
        value[p] = acc
        deficit[p] = max(angular, 0.0) + mismatch
    return value, deficit


@dataclass(frozen=True, eq=False)
class Numerical(Activation):
    """φ given by φ, φ' and φ'' (vectorised numpy callables); expectations by quadrature."""

    phi: Function = field(default=np.tanh, repr=False)
    dphi: Function = field(default=np.tanh, repr=False)
    ddphi: Function = field(default=np.tanh, repr=False)

    def variance(self, q: ArrayLike) -> Array:
        return self._moment("V", lambda x: self.phi(x) ** 2, q)

    def variance_slope(self, q: ArrayLike) -> Array:
        return self._moment("dV", lambda x: self.dphi(x) ** 2 + self.phi(x) * self.ddphi(x), q)

    def derivative_variance(self, q: ArrayLike) -> Array:
        return self._moment("W", lambda x: self.dphi(x) ** 2, q)

    def _moment(self, kind: str, f: Function, q: ArrayLike) -> Array:
        q = as_array(q)
        unique, inverse = np.unique(q, return_inverse=True)
        values = self._memoised(kind, unique, lambda missing: expectation(f, missing)[:, None])
        return values[:, 0][inverse].reshape(q.shape)

    def _coefficients(self, kind: str, f: Function, q: Array) -> Array:
        """Hermite coefficient rows [q.size, MAX_TERMS] of f(√q z) (q unique)."""
        return self._memoised(kind, q, lambda missing: hermite_coefficients(f, missing))

    def _memoised(self, kind: str, q: Array, compute: Callable[[Array], Array]) -> Array:
        """Rows of ``compute`` for the unique values ``q``, from the memo where it has them.

        The rows are gathered before the memo may be cleared to make room, so a call never
        depends on what a full memo evicts.
        """
        if q.size == 0 or q.size > MEMO_SIZE:
            return compute(q)
        key = (self.name, tuple(sorted(self.params.items())), kind)
        rows = {v: _MEMO.get((*key, v)) for v in q.tolist()}
        missing = [v for v, row in rows.items() if row is None]
        if missing:
            computed = dict(zip(missing, compute(np.array(missing)), strict=True))
            rows.update(computed)
            if len(_MEMO) + len(computed) > MEMO_SIZE:
                _MEMO.clear()
            _MEMO.update({(*key, v): row for v, row in computed.items()})
        return np.stack([cast(Array, rows[v]) for v in q.tolist()])

    def correlation(self, q1: ArrayLike, q2: ArrayLike, q12: ArrayLike) -> Array:
        c, minus, _ = clipped_cosine_deficits(q1, q2, q12)
        return self._series(self.phi, "φ", q1, q2, c, minus)[0]

    def derivative_correlation(self, q1: ArrayLike, q2: ArrayLike, q12: ArrayLike) -> Array:
        c, minus, _ = clipped_cosine_deficits(q1, q2, q12)
        return self._series(self.dphi, "φ'", q1, q2, c, minus)[0]

    def correlation_deficit(self, q1: ArrayLike, q2: ArrayLike, delta: ArrayLike) -> Array:
        d = np.clip(as_array(delta), 0.0, 2.0)
        return self._series(self.phi, "φ", q1, q2, 1.0 - d, d)[1]

    def derivative_correlation_deficit(
        self, q1: ArrayLike, q2: ArrayLike, delta: ArrayLike
    ) -> Array:
        d = np.clip(as_array(delta), 0.0, 2.0)
        return self._series(self.dphi, "φ'", q1, q2, 1.0 - d, d)[1]

    def small_deficit_slopes(self, q1: ArrayLike, q2: ArrayLike) -> tuple[Array, Array, float]:
        """a = Σ k α_k α'_k and b = Σ k β_k β'_k (from 1 − c^k ≈ k δ)."""
        a = self._slope(self.phi, "φ", q1, q2)
        b = self._slope(self.dphi, "φ'", q1, q2)
        return a, b, 1.0

    def _slope(self, f: Function, what: str, q1: ArrayLike, q2: ArrayLike) -> Array:
        q1, q2 = np.broadcast_arrays(as_array(q1), as_array(q2))
        unique, inverse = np.unique(np.concatenate([q1.ravel(), q2.ravel()]), return_inverse=True)
        coefficients = self._coefficients(what, f, unique)
        terms = series_length(coefficients, what, unique)
        kept = coefficients[:, :terms]
        weighted = kept * np.arange(terms)
        rows1 = inverse[: q1.size]
        rows2 = inverse[q1.size :]
        return np.einsum("pk,pk->p", weighted[rows1], kept[rows2]).reshape(q1.shape)

    def _series(
        self, f: Function, what: str, q1: ArrayLike, q2: ArrayLike, c: Array, d: Array
    ) -> tuple[Array, Array]:
        """Mehler sum and deficit over the broadcast shape, coefficients per distinct q."""
        q1, q2 = as_array(q1), as_array(q2)
        shape = np.broadcast_shapes(q1.shape, q2.shape, c.shape, d.shape)
        unique, inverse = np.unique(np.concatenate([q1.ravel(), q2.ravel()]), return_inverse=True)
        rows1 = np.broadcast_to(inverse[: q1.size].reshape(q1.shape), shape).ravel()
        rows2 = np.broadcast_to(inverse[q1.size :].reshape(q2.shape), shape).ravel()
        coefficients = self._coefficients(what, f, unique)
        terms = series_length(coefficients, what, unique)
        kept = np.ascontiguousarray(coefficients[:, :terms])
        value, deficit = _mehler(
            kept,
            np.sqrt(np.sum(kept * kept, axis=1)),
            np.ascontiguousarray(rows1),
            np.ascontiguousarray(rows2),
            np.ascontiguousarray(np.broadcast_to(c, shape)).ravel(),
            np.ascontiguousarray(np.broadcast_to(d, shape)).ravel(),
        )
        return value.reshape(shape), deficit.reshape(shape)
