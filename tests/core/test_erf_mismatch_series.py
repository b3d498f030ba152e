"""erf's norm-mismatch term by per-point Taylor coefficients (core.erf_mismatch) against
mpmath at 50 digits: √(A1A2) − arcsin √(ρ1ρ2) with ρ_i = 2q_i/(1 + 2q_i), A_i = arcsin ρ_i.

Grid: q ∈ [1e-4, 1e5] (both coefficient branches, either side of ρ = ½), k = ½|ln(ρ1/ρ2)|
from 1e-12 of its limit (set by the larger q) up to the limit itself, k taken from either
order of the two. Tolerance 2e-15 relative, pointwise (measured: 9e-16).
"""

from __future__ import annotations

import itertools
import math

import mpmath as mp
import numpy as np
import pytest

from core.erf_mismatch import (
    M_LIMIT,
    MISMATCH_FIELDS,
    RATIO,
    TERMS,
    WORK_ROWS,
    point_fields,
    series_mismatch,
)

QS = [1e-4, 1e-3, 1e-2, 0.1, 0.3, 0.49, 0.5, 0.51, 1.0, 3.0, 30.0, 1e3, 1e5]
FRACTIONS = [1e-12, 1e-8, 1e-4, 1e-2, 0.3, 1.0]


def fields(q: float) -> np.ndarray:
    out = np.zeros(MISMATCH_FIELDS)
    point_fields(q, out, np.empty((WORK_ROWS, TERMS + 2)))
    return out


def reference(q1: float, q2: float) -> mp.mpf:
    with mp.workdps(50):
        a, b = mp.mpf(q1), mp.mpf(q2)
        r1, r2 = 2 * a / (1 + 2 * a), 2 * b / (1 + 2 * b)
        return mp.sqrt(mp.asin(r1) * mp.asin(r2)) - mp.asin(mp.sqrt(r1 * r2))


@pytest.mark.parametrize(("hi", "fraction", "swap"), list(itertools.product(QS, FRACTIONS, (0, 1))))
def test_series_mismatch_against_mpmath(hi, fraction, swap):
    x = math.log(2.0 * hi / (1.0 + 2.0 * hi))
    rho = math.exp(x - 2.0 * fraction * RATIO * min(-x, 1.0))
    lo = rho / (2.0 * (1.0 - rho))
    q1, q2 = (lo, hi) if swap else (hi, lo)
    k = 0.5 * abs(math.log1p((q1 - q2) / q2 / (1.0 + 2.0 * q1)))
    f_lo, f_hi = fields(lo), fields(hi)
    assert 0.0 < k <= f_hi[M_LIMIT] * (1.0 + 1e-9)
    want = reference(lo, hi)
    got = series_mismatch(f_lo, f_hi, k)
    assert abs((mp.mpf(got) - want) / want) <= 2e-15
