"""Hermite rows of many variances interpolated in log q (core/activations/numerical.py).

Against rows computed one by one by the trapezoidal rules (hermite_coefficients, whose
own rounding is ~1e-15 of √T): every interpolated row within 4e-15 of √T, term by term,
over one and several panels, with q = 0 and panels of few variances computed directly;
and the Mehler sums and deficits built from them against mpmath.
"""

from __future__ import annotations

from typing import Any

import mpmath as mp
import numpy as np
import pytest

from core.activations import get_activation, numerical
from tests.core.test_mehler import mp_deficit

FUNCTIONS = [("tanh", "phi"), ("tanh", "dphi"), ("sigmoid", "phi"), ("softplus", "phi")]


def direct(f: Any, q: np.ndarray, width: int) -> np.ndarray:
    rows = numerical.hermite_coefficients(f, q, "f", width)[0]
    return np.stack([row[:width] for row in rows])


@pytest.mark.parametrize(("name", "which"), FUNCTIONS)
@pytest.mark.parametrize(("lo", "hi"), [(0.5, 0.5004), (0.86, 2.7), (0.01, 9.0)])
def test_interpolated_rows_match_the_rules(name: str, which: str, lo: float, hi: float) -> None:
    f = getattr(get_activation(name), which)
    rng = np.random.default_rng(11)
    q = np.exp(rng.uniform(np.log(lo), np.log(hi), 300))
    q[:2] = lo, hi
    rows, lengths = numerical.coefficient_rows(f, q, "f")
    if hi / lo <= numerical.PANEL_RATIO:  # one panel: one width
        assert len({row.size for row in rows}) == 1
    pick = rng.choice(q.size, 24, replace=False)
    pick[:2] = 0, 1
    for i in pick:
        want = direct(f, q[i : i + 1], rows[i].size)[0]
        assert np.max(np.abs(rows[i] - want)) <= 4e-15 * np.sqrt(np.sum(want * want))
        # the series length of the next node up (K grows with q: at least the row's own)
        own = numerical.series_lengths(want[None, :])[0][0]
        assert own - 2 <= lengths[i] <= 2 * own + 8


def test_zero_variance_and_small_panels_are_computed_directly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    f = get_activation("tanh").phi
    q = np.concatenate([[0.0], np.linspace(0.5, 0.6, 60), [10.0, 11.0]])
    calls: list[int] = []
    original = numerical._interpolant

    def spy(values: np.ndarray, sample: Any) -> Any:
        calls.append(values.size)
        return original(values, sample)

    monkeypatch.setattr(numerical, "_interpolant", spy)
    rows, _ = numerical.coefficient_rows(f, q[::-1].copy(), "φ")
    assert calls == [60]  # only the panel of 60 variances; q = 0 and the two large ones not
    assert not np.any(rows[-1])  # q = 0 (reversed order): the zero row
    want = direct(f, q[-1:], rows[0].size)[0]
    np.testing.assert_allclose(rows[0], want, rtol=0.0, atol=1e-15)


@pytest.mark.parametrize(
    ("q1", "q2", "delta"), [(0.7, 1.3, 1e-6), (1.1, 0.6, 2.0 - 1e-6), (0.8, 1.9, 0.4)]
)
def test_deficits_from_interpolated_rows(q1: float, q2: float, delta: float) -> None:
    """q1 and q2 among 100 variances of one call (their rows from the interpolant) against
    the two alone (rows by the rules): within 1e-12; and against mpmath within 1e-10."""
    act = get_activation("tanh")
    q = np.concatenate([[q1, q2], np.linspace(0.55, 2.0, 98)])
    d = np.full((q.size, q.size), 0.7)
    d[0, 1] = d[1, 0] = delta
    np.fill_diagonal(d, 0.0)
    numerical._MEMO.clear()
    got = act.correlation_deficit(q[:, None], q[None, :], d)[0, 1]
    got_d = act.derivative_correlation_deficit(q[:, None], q[None, :], d)[0, 1]
    numerical._MEMO.clear()
    alone = act.correlation_deficit(q1, q2, delta)
    alone_d = act.derivative_correlation_deficit(q1, q2, delta)
    assert abs(got - alone) <= 1e-12 * alone
    assert abs(got_d - alone_d) <= 1e-12 * alone_d
    with mp.workdps(30):
        phi = mp_deficit(mp.tanh, q1, q2, delta)
        dphi = mp_deficit(lambda x: 1 - mp.tanh(x) ** 2, q1, q2, delta)
    assert abs(got - phi) <= 1e-10 * phi
    assert abs(got_d - dphi) <= 1e-10 * dphi
