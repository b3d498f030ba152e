"""Deficits of kernels whose points share one variance (core/activations/mehler.py,
one_row_deficits): δ·h(δ) with h interpolated in δ, against every term of Σ_k α_k²(1 − c^k)
in long double (tests/core/test_mehler.py's reference: within 2e-15, 7e-16 seen) and
against the blocked sums (within 5e-12: theirs reach 2e-12 at tiny δ)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from core.activations import get_activation, mehler, numerical
from tests.core.test_mehler import reference


def spread(n: int, top: float, rng: np.random.Generator) -> np.ndarray:
    """Symmetric δ in [0, top] with a zero diagonal, a fifth of them 1e-300 … 1e-3 of top."""
    d = rng.uniform(0.0, top, (n, n))
    tiny = rng.random((n, n)) < 0.2
    d = np.where(tiny, top * 10.0 ** rng.uniform(-300, -3, (n, n)), d)
    d = np.triu(d) + np.triu(d, 1).T
    np.fill_diagonal(d, 0.0)
    return d


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "softplus"])
@pytest.mark.parametrize("derivative", [False, True])
@pytest.mark.parametrize("top", [1e-9, 3e-3, 0.06])
def test_one_variance_deficits_match_every_term(
    name: str, derivative: bool, top: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    act = get_activation(name)
    n = 80  # 6400 entries: above ONE_ROW_FROM
    d = spread(n, top, np.random.default_rng(5))
    q = np.full(n, 0.52)
    used: list[Any] = []
    original = mehler.one_row_deficits

    def spy(coef: np.ndarray, delta: np.ndarray) -> Any:
        used.append(original(coef, delta))
        return used[-1]

    monkeypatch.setattr(mehler, "one_row_deficits", spy)
    got = act._pairs(derivative, q[:, None], q[None, :], 1.0 - d, d, True)[1]  # type: ignore[attr-defined]
    assert len(used) == 1 and used[0] is not None
    (_, want), _ = reference(act, derivative, q[:, None], q[None, :], d)
    want = want.astype(float)
    assert np.all(np.abs(got - want) <= 2e-15 * want)
    assert np.all(got[d == 0.0] == 0.0)
    # the blocked sums (the path for fewer entries; their own error at δ ~ 1e-12 reaches
    # 4e-14 for tanh, 2e-12 for sigmoid' against the same reference)
    monkeypatch.setattr(mehler, "ONE_ROW_FROM", 10**9)
    blocked = act._pairs(derivative, q[:, None], q[None, :], 1.0 - d, d, True)[1]  # type: ignore[attr-defined]
    assert np.all(np.abs(got - blocked) <= 5e-12 * want)


def test_wide_deficit_ranges_fall_back_to_the_blocked_sums() -> None:
    """δ up to 2 at q = 2 (hundreds of terms): no low-degree interpolant; the sums answer."""
    act = get_activation("tanh")
    numerical._MEMO.clear()
    coef = act._coefficients("φ", act.phi, np.array([2.0]))  # type: ignore[attr-defined]
    d = np.linspace(0.0, 2.0, 5000)
    assert mehler.one_row_deficits(coef[0], d) is None
    got = act.correlation_deficit(2.0, 2.0, d)
    (_, want), _ = reference(act, False, np.full(d.size, 2.0), np.full(d.size, 2.0), d)
    want = want.astype(float)
    assert np.all(np.abs(got - want) <= 1e-12 * want + 1e-300)
