"""Kernels in deviation form: diagonals, Cauchy–Schwarz deficits and power-of-two scales.

A kernel K over (x1, x2) is held as

    K_ab = 2^s · ( √(g1_a g2_b) − 2^t · E_ab ),      E_ab ≥ 0,

with integer exponents s (the kernel's scale: chaotic growth) and t (the deficit's own
scale: ordered-phase collapse of 1 − c). Scaling by powers of two is exact, so a depth of
10⁵ layers accumulates no rounding from renormalisation. Public results report
log10 scales (s·log10 2, t·log10 2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from core.activations.base import Array

LOG10_2 = math.log10(2.0)
#: renormalise a diagonal when its largest entry leaves [2^-LIMIT, 2^LIMIT]
DIAGONAL_LIMIT = 400
#: renormalise a deficit when its largest entry falls below 2^-LIMIT (or exceeds 2^LIMIT)
DEFICIT_LIMIT = 200


@dataclass
class Track:
    """One kernel (Σ or Θ) during the recursion: g1 [n1], g2 [n2], e [n1, n2], exponents."""

    g1: Array
    g2: Array
    e: Array
    s: int
    t: int

    def normalise(self, diagonal: bool = True) -> None:
        """Bring the deficit (and, if ``diagonal``, the diagonals) back into range.

        Shifts are exact powers of two. Σ of an activation that is not positively
        homogeneous is evaluated at its true variance, so its diagonal stays unscaled.
        """
        top = max(float(self.g1.max()), float(self.g2.max()))
        if diagonal and top > 0.0:
            exponent = math.frexp(top)[1]
            if abs(exponent) > DIAGONAL_LIMIT:
                self.g1 = np.ldexp(self.g1, -exponent)
                self.g2 = np.ldexp(self.g2, -exponent)
                self.s += exponent
                self.t -= exponent
        self.e, self.t = normalised(self.e, self.t)

    def unscaled(self) -> Track:
        """The same kernel with s = 0 (inf or 0 where it leaves float64's range)."""
        e, t = normalised(self.e, self.t + self.s)
        return Track(np.ldexp(self.g1, self.s), np.ldexp(self.g2, self.s), e, 0, t)

    def dense(self) -> Array:
        """K / 2^s."""
        return np.sqrt(self.g1)[:, None] * np.sqrt(self.g2)[None, :] - np.ldexp(self.e, self.t)


#: diagonals closer than this (relative) are made identical: the map q ↦ σ_w² V(q) + σ_b²
#: drives every norm to the same fixed point, where rounding would otherwise leave them a
#: few ulps apart for ever and the O((q_a − q_b)²) mismatch terms a constant noise floor.
SNAP_RTOL = 64 * np.finfo(np.float64).eps


def snapped(g1: Array, g2: Array) -> tuple[Array, Array]:
    """(g1, g2) with values within SNAP_RTOL of a smaller one replaced by it."""
    values = np.concatenate([g1, g2])
    low, high = values.min(), values.max()
    if low == high or not math.isfinite(high):  # nothing to snap, or past float64's range
        return g1, g2
    if high - low <= SNAP_RTOL * abs(high):
        return np.full_like(g1, low), np.full_like(g2, low)
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.concatenate([[True], np.diff(ordered) > SNAP_RTOL * np.abs(ordered[1:])])
    if np.all(starts):
        return g1, g2
    representative = ordered[np.flatnonzero(starts)[np.cumsum(starts) - 1]]
    out = np.empty_like(values)
    out[order] = representative
    return out[: g1.size], out[g1.size :]


def normalised(values: Array, exponent: int) -> tuple[Array, int]:
    """(v', t') with v'·2^t' = v·2^t, max|v'| in range when tiny or huge, and t' ≤ 0."""
    top = max(float(values.max()), -float(values.min())) if values.size else 0.0
    if top == 0.0:
        return values, min(exponent, 0)
    shift = math.frexp(top)[1]
    if abs(shift) > DEFICIT_LIMIT:
        values = np.ldexp(values, -shift)
        exponent += shift
    if exponent > 0:
        values = np.ldexp(values, exponent)
        exponent = 0
    return values, exponent


def combine(parts: list[tuple[Array, int]]) -> tuple[Array, int]:
    """Σ v_i·2^{t_i} as (v, t): every part normalised first, summed at the largest exponent.

    Parts more than ~1074 binary orders below the largest underflow to zero: negligible.
    """
    ready = [normalised(v, t) for v, t in parts]
    live = [(v, t) for v, t in ready if v.max() != 0.0 or v.min() != 0.0]
    if not live:
        return np.zeros_like(parts[0][0]), 0
    top = max(t for _, t in live)
    total = np.zeros(np.broadcast_shapes(*(v.shape for v, _ in live)))
    for v, t in live:
        total = total + np.ldexp(v, t - top)
    return normalised(total, top)


@dataclass(frozen=True)
class DeviationPart:
    """One kernel at one depth in deviation form (see module doc; log10 scales).

    ``g1`` [n1], ``g2`` [n2]: diagonals K(x1_a, x1_a), K(x2_b, x2_b) divided by 10^s;
    ``deficit`` [n1, n2] ≥ 0: √(K_aa K_bb) − K_ab divided by 10^(s + t);
    ``log10_scale`` s; ``log10_deficit_scale`` t ≤ 0.
    """

    g1: Array
    g2: Array
    deficit: Array
    log10_scale: float
    log10_deficit_scale: float

    @property
    def E(self) -> Array:
        return self.deficit

    @property
    def s(self) -> float:
        return self.log10_scale

    @property
    def t(self) -> float:
        return self.log10_deficit_scale

    def dense(self) -> Array:
        """The plain kernel divided by 10^s."""
        root = np.sqrt(self.g1)[:, None] * np.sqrt(self.g2)[None, :]
        return root - self.deficit * 10.0**self.log10_deficit_scale

    @staticmethod
    def from_track(track: Track) -> DeviationPart:
        return DeviationPart(
            g1=track.g1.copy(),
            g2=track.g2.copy(),
            deficit=track.e.copy(),
            log10_scale=track.s * LOG10_2,
            log10_deficit_scale=track.t * LOG10_2,
        )


@dataclass(frozen=True)
class LayerState:
    """NNGP (Σ) and NTK (Θ) at one depth, in deviation form."""

    depth: int
    nngp: DeviationPart
    ntk: DeviationPart
