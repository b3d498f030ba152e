"""erf's Cauchy–Schwarz deficits at unequal but close variances against mpmath (50 digits).

With P_i = 1 + 2q_i and q12 = √(q1q2)(1 − δ), erf's expectations are closed forms:

    E[φ(u)φ(v)] = (2/π) arcsin(2q12/√(P1P2)),      V(q) = (2/π) arcsin(2q/(1 + 2q))
    E[φ'(u)φ'(v)] = (4/π)/√(P1P2 − 4q12²),         W(q) = (4/π)/√(1 + 4q)

so √(V1V2) − E[φφ] and √(W1W2) − E[φ'φ'] are evaluated here at 50 digits from the float64
inputs exactly. Grid: q ∈ [1e-3, 1e3], relative norm gap |q1 − q2|/q2 ∈ [1e-8, 1e-1] (both
signs, densest in 1e-5 … 1e-3, where the norm-mismatch part changes formula), δ = 1 − c ∈
[1e-12, 1]. Tolerance: 1e-12 relative, pointwise.
"""

from __future__ import annotations

import itertools

import mpmath as mp
import numpy as np

from core.activations import get_activation

TOLERANCE = 1e-12
QS = [1e-3, 3e-3, 1e-2, 0.1, 0.5, 1.0, 3.0, 10.0, 100.0, 1e3]
GAPS = [1e-8, 1e-7, 1e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 3e-2, 1e-1]
DELTAS = [1e-12, 1e-9, 1e-6, 1e-3, 0.1, 1.0]


def grid() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = [
        (q * (1 + sign * gap), q, delta)
        for q, gap, sign, delta in itertools.product(QS, GAPS, (1, -1), DELTAS)
    ]
    q1, q2, delta = (np.array(column) for column in zip(*rows, strict=True))
    return q1, q2, delta


def references(q1: float, q2: float, delta: float) -> tuple[mp.mpf, mp.mpf]:
    """(√(V1V2) − E[φφ], √(W1W2) − E[φ'φ']) at 50 digits."""
    with mp.workdps(50):
        a, b, d = mp.mpf(q1), mp.mpf(q2), mp.mpf(delta)
        q12 = mp.sqrt(a * b) * (1 - d)
        p1, p2 = 1 + 2 * a, 1 + 2 * b
        v1, v2 = mp.asin(2 * a / p1), mp.asin(2 * b / p2)
        value = 2 / mp.pi * (mp.sqrt(v1 * v2) - mp.asin(2 * q12 / mp.sqrt(p1 * p2)))
        w = 1 / mp.sqrt(mp.sqrt((1 + 4 * a) * (1 + 4 * b)))
        derivative = 4 / mp.pi * (w - 1 / mp.sqrt(p1 * p2 - 4 * q12 * q12))
        return value, derivative


def worst(got: np.ndarray, want: list[mp.mpf], q1, q2, delta) -> tuple[float, str]:
    errors = [float(abs((mp.mpf(g) - w) / w)) for g, w in zip(got, want, strict=True)]
    i = int(np.argmax(errors))
    return errors[i], f"q1={q1[i]!r} q2={q2[i]!r} delta={delta[i]!r}"


def test_erf_deficits_near_equal_norms_against_mpmath() -> None:
    q1, q2, delta = grid()
    refs = [references(a, b, d) for a, b, d in zip(q1, q2, delta, strict=True)]
    erf = get_activation("erf")
    value = erf.correlation_deficit(q1, q2, delta)
    derivative = erf.derivative_correlation_deficit(q1, q2, delta)
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(derivative))
    error, where = worst(value, [r[0] for r in refs], q1, q2, delta)
    assert error <= TOLERANCE, f"correlation deficit: {error:.2e} relative at {where}"
    error, where = worst(derivative, [r[1] for r in refs], q1, q2, delta)
    assert error <= TOLERANCE, f"derivative deficit: {error:.2e} relative at {where}"
