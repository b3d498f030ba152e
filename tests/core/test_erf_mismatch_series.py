"""erf's norm-mismatch term by per-point Taylor coefficients (core.erf_mismatch) against
mpmath at 80 digits: √(A1A2) − arcsin √(ρ1ρ2) with ρ_i = 2q_i/(1 + 2q_i), A_i = arcsin ρ_i.

Grid: every rule of RULES (term count and its largest ratio), q ∈ [1e-4, 1e5] (both
coefficient branches, either side of ρ = ½), k = ½|ln(ρ1/ρ2)| from 1e-12 of the rule's limit
(set by the larger q) up to the limit itself, k taken from either order of the two.
Tolerance 2e-15 relative, pointwise (measured: 1.0e-15).
"""

from __future__ import annotations

import itertools
import math

import mpmath as mp
import numpy as np
import pytest

from core.erf_mismatch import (
    M_COEF,
    M_LIMIT,
    MAX_TERMS,
    RULES,
    SERIES_BELOW,
    WORK_ROWS,
    artanh_series,
    half_log_ratio,
    one_minus_exp_series,
    point_fields,
    rule_for,
    series_mismatch,
)

QS = [1e-4, 1e-3, 1e-2, 0.1, 0.3, 0.49, 0.5, 0.51, 1.0, 3.0, 30.0, 1e3, 1e5]
FRACTIONS = [1e-12, 1e-8, 1e-4, 1e-2, 0.3, 0.7, 1.0]


def fields(q: float, row: int) -> np.ndarray:
    out = np.zeros(M_COEF + int(RULES[row, 0]))
    point_fields(q, row, out, np.empty((WORK_ROWS, MAX_TERMS + 2)))
    return out


def reference(q1: float, q2: float) -> mp.mpf:
    with mp.workdps(80):
        a, b = mp.mpf(q1), mp.mpf(q2)
        r1, r2 = 2 * a / (1 + 2 * a), 2 * b / (1 + 2 * b)
        return mp.sqrt(mp.asin(r1) * mp.asin(r2)) - mp.asin(mp.sqrt(r1 * r2))


@pytest.mark.parametrize("row", range(RULES.shape[0]))
def test_series_mismatch_against_mpmath(row):
    terms, ratio = int(RULES[row, 0]), RULES[row, 1]
    assert rule_for(ratio) == row
    assert row == 0 or rule_for(ratio * (1.0 + 1e-9)) == min(row + 1, RULES.shape[0] - 1)
    for hi, fraction, swap in itertools.product(QS, FRACTIONS, (0, 1)):
        x = math.log(2.0 * hi / (1.0 + 2.0 * hi))
        rho = math.exp(x - 2.0 * fraction * ratio * min(-x, 1.0))
        lo = rho / (2.0 * (1.0 - rho))
        q1, q2 = (lo, hi) if swap else (hi, lo)
        k = 0.5 * abs(math.log1p((q1 - q2) / q2 / (1.0 + 2.0 * q1)))
        if lo == hi:  # the step below float64's resolution at this q
            continue
        both = np.stack([fields(lo, row), fields(hi, row)])
        assert 0.0 < k <= both[1, M_LIMIT] * (1.0 + 1e-6)
        want = reference(lo, hi)
        got = series_mismatch(both, 0, 1, 0, terms, k)
        assert abs((mp.mpf(got) - want) / want) <= 2e-15, (hi, fraction, swap)


@pytest.mark.parametrize("q", [1e-4, 0.3, 0.7, 1.6, 1e3])
def test_half_log_ratio_against_mpmath(q):
    """k = ½|ln(ρ1/ρ2)| by artanh (its series below SERIES_BELOW) to 4e-16 relative, either
    order."""
    for gap in [1e-15, 1e-12, 1e-9, 1e-6, 1e-4, 9e-4, 1.1e-3, 1e-2, 0.1, 0.2, 0.3, 0.5, 3.0]:
        q2 = q * (1.0 + gap)
        with mp.workdps(60):
            a, b = mp.mpf(q), mp.mpf(q2)
            want = abs(mp.log((a * (1 + 2 * b)) / (b * (1 + 2 * a)))) / 2
        for got in (half_log_ratio(q, q2), half_log_ratio(q2, q)):
            assert abs((mp.mpf(got) - want) / want) <= 4e-16, (q, gap)


def test_series_below_their_bound_against_mpmath():
    """artanh and 1 − e^{−x} by their series, up to SERIES_BELOW: within 1.5 ulp."""
    for v in np.concatenate([np.geomspace(1e-20, SERIES_BELOW, 200, endpoint=False)]):
        with mp.workdps(40):
            for got, want in (
                (artanh_series(v), mp.atanh(mp.mpf(v))),
                (one_minus_exp_series(v), -mp.expm1(-mp.mpf(v))),
            ):
                assert abs(mp.mpf(got) - want) <= 1.5 * math.ulp(float(want)), v
