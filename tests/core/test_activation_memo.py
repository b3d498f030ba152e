"""The quadrature memo of numerical activations never changes or loses a result."""

from __future__ import annotations

import numpy as np
import pytest

from core.activations import get_activation, numerical


def test_a_full_memo_still_answers_every_value(monkeypatch: pytest.MonkeyPatch) -> None:
    """Values cached before the memo is cleared to make room are still returned (regression:
    a phase diagram's second probe once raised KeyError here)."""
    monkeypatch.setattr(numerical, "MEMO_SIZE", 4)
    monkeypatch.setattr(numerical, "_MEMO", {})
    tanh = get_activation("tanh")
    first = tanh.variance(np.array([0.5, 1.0, 2.0]))
    mixed = tanh.variance(np.array([0.5, 1.0, 3.0, 4.0]))
    monkeypatch.setattr(numerical, "_MEMO", {})
    fresh = tanh.variance(np.array([0.5, 1.0, 2.0, 3.0, 4.0]))
    # a batch's quadrature rounds differently in the last bit: 1e-15 relative
    np.testing.assert_allclose(first, fresh[:3], rtol=1e-15)
    np.testing.assert_allclose(mixed, fresh[[0, 1, 3, 4]], rtol=1e-15)


def test_an_empty_query_is_an_empty_answer() -> None:
    tanh = get_activation("tanh")
    assert tanh.variance(np.array([])).shape == (0,)
    assert tanh.derivative_variance(np.zeros((0, 3))).shape == (0, 3)


def test_a_short_memoised_series_is_extended_for_a_longer_partner(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Coefficient rows are used to the longest series length of the call: a row memoised
    from a small-q call (few terms) is recomputed to the length its large-q partner needs
    (its terms beyond its own length are ~3e-8·√V, not negligible against that partner)."""
    monkeypatch.setattr(numerical, "_MEMO", {})
    tanh = get_activation("tanh")
    q = np.array([0.1, 5.0])
    short = tanh._coefficients("φ", tanh.phi, q[:1])  # type: ignore[attr-defined]
    mixed = tanh._coefficients("φ", tanh.phi, q)  # type: ignore[attr-defined]
    monkeypatch.setattr(numerical, "_MEMO", {})
    fresh = tanh._coefficients("φ", tanh.phi, q)  # type: ignore[attr-defined]
    assert mixed.shape == fresh.shape and mixed.shape[1] > short.shape[1]
    assert np.any(mixed[0, short.shape[1] :] != 0.0)
    np.testing.assert_allclose(mixed, fresh, rtol=0.0, atol=1e-16)


@pytest.mark.parametrize("name", ["tanh", "sigmoid"])
def test_variances_from_one_pass_are_the_separate_ones(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """V and W of tanh and sigmoid come from one evaluation of φ per node (smooth.SQUARES):
    bit for bit the expectations of φ² and φ'² taken separately, whichever is asked first."""
    act = get_activation(name)
    q = np.linspace(0.05, 9.0, 40)
    v = numerical.expectation(lambda x: act.phi(x) ** 2, q)  # type: ignore[attr-defined]
    w = numerical.expectation(lambda x: act.dphi(x) ** 2, q)  # type: ignore[attr-defined]
    for first in ("variance", "derivative_variance"):
        monkeypatch.setattr(numerical, "_MEMO", {})
        getattr(act, first)(q)  # computes and memoises both
        assert len(numerical._MEMO) == 2
        np.testing.assert_array_equal(act.variance(q), v)
        np.testing.assert_array_equal(act.derivative_variance(q), w)
