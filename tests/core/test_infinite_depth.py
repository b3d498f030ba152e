"""Infinite-depth predictions (MATH.md §6–7): limits checked against finite depths.

References: Richardson extrapolation of finite-depth predictions (computed by the core from
the deviation representation, themselves checked against mpmath in test_predictions.py),
the closed forms of the chaotic limit, and mpmath at high precision at depth 100.
"""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest

from core.activations import get_activation
from core.errors import NotDefinedError
from core.network import Network
from core.predictions import predict
from tests.core.test_predictions import (
    mp_flow,
    mp_kernels,
    naive_erf_ntk,
    relative_error,
    sphere_points,
)

X = sphere_points(8, 3, seed=1)
N = 5
Y = np.array([1.0, -1.0, 0.5, 2.0, -0.3])


def _net(activation: str, sigma_w2: float, sigma_b2: float, depth: int | None) -> Network:
    return Network(get_activation(activation), sigma_w2, sigma_b2, depth)


def _mean(activation: str, w2: float, b2: float, depth: int | None, kernel: str) -> np.ndarray:
    return predict(_net(activation, w2, b2, depth), X[:N], Y, X[N:], kernel=kernel).mean[0, :, 0]


def test_critical_line_has_no_limit() -> None:
    with pytest.raises(NotDefinedError, match="no infinite-depth limit"):
        predict(_net("relu", 2.0, 0.0, None), X[:N], Y, X[N:])


def test_ordered_smooth_ntk_limit_matches_richardson_extrapolation() -> None:
    """erf NTK: finite depths approach the limit only like 1/l (the resonant l·α term);
    second-order Richardson on l = 100, 200, 400 agrees with the limit, l = 400 does not."""
    w2, b2 = 0.6, 0.3
    limit = _mean("erf", w2, b2, None, "ntk")
    f = {depth: _mean("erf", w2, b2, depth, "ntk") for depth in (100, 200, 400)}
    first = {depth: 2 * f[2 * depth] - f[depth] for depth in (100, 200)}
    extrapolated = (4 * first[200] - first[100]) / 3
    assert relative_error(extrapolated, limit) < 2e-6
    assert relative_error(f[400], limit) > 1e-4  # the 1/l approach: depth 400 is not ∞
    # the NNGP reaches the same limit (α ∝ −D for erf-like φ), geometrically
    assert relative_error(_mean("erf", w2, b2, 60, "nngp"), limit) < 1e-10
    assert relative_error(_mean("erf", w2, b2, None, "nngp"), limit) < 1e-10


def test_ordered_relu_limit_is_reached_geometrically() -> None:
    """relu: the kink makes the deviations scale like χ₁^{l/2}: depth 100 is the limit."""
    for kernel in ("ntk", "nngp"):
        limit = _mean("relu", 1.0, 0.3, None, kernel)
        assert relative_error(_mean("relu", 1.0, 0.3, 100, kernel), limit) < 1e-10
        assert relative_error(_mean("relu", 1.0, 0.3, 10, kernel), limit) > 1e-3


def test_ordered_limit_is_kriging_with_unknown_mean() -> None:
    """Adding a constant to the labels adds it to every prediction; interpolates y."""
    net = _net("erf", 0.6, 0.3, None)
    base = predict(net, X[:N], Y, X[N:])
    shifted = predict(net, X[:N], Y + 10.0, X[N:])
    np.testing.assert_allclose(shifted.mean, base.mean + 10.0, rtol=0, atol=1e-10)
    np.testing.assert_allclose(base.train_mean[0, :, 0], Y, rtol=0, atol=1e-12)
    assert any("kriging" in note for note in base.notes)


def test_ordered_limit_at_finite_time_learns_only_the_mean() -> None:
    """Θ^∞ = p* 11ᵀ: at finite t (default η = 2/(n p*)) every output is (1 − e^{−2t}) ȳ."""
    result = predict(_net("erf", 0.6, 0.3, None), X[:N], Y, X[N:], t=[0.5, 3.0])
    for i, t in enumerate((0.5, 3.0)):
        expected = -math.expm1(-2 * t) * Y.mean()
        np.testing.assert_allclose(result.mean[i], expected, rtol=1e-12)
        np.testing.assert_allclose(result.train_mean[i], expected, rtol=1e-12)


def test_deep_ordered_predictions_converge_where_float64_fails() -> None:
    """Depth 100 (χ₁ = 0.44, 1 − c ~ 1e-36) against mpmath at 120 digits, and depths up to
    10,000 converging to the infinite-depth limit, where the plain float64 recursion has
    collapsed to a rank-one kernel."""
    w2, b2 = 0.6, 0.3
    limit = _mean("erf", w2, b2, None, "ntk")
    with mp.workdps(120):
        k_all = mp_kernels("erf", w2, b2, X, [100], 120)[100][1]
        ref100 = mp_flow(k_all, N, Y[:, None], math.inf)[0][:, 0]
    f100 = _mean("erf", w2, b2, 100, "ntk")
    assert relative_error(f100, ref100) < 1e-9
    f10000 = _mean("erf", w2, b2, 10000, "ntk")
    assert relative_error(f10000, limit) < 3 * relative_error(f100, limit) / 100  # ~1/l
    assert relative_error(f10000, limit) < 1e-4
    naive = naive_erf_ntk(w2, b2, X, 100)
    with np.errstate(all="ignore"):
        naive_mean = naive[N:, :N] @ np.linalg.lstsq(naive[:N, :N], Y, rcond=None)[0]
    assert relative_error(naive_mean, ref100) > 0.1


def test_chaotic_limit_forgets_the_data() -> None:
    """χ₁ > 1: 0 off the training set, the labels on it (t = ∞), including for a test input
    that repeats a training input; the rate is reported."""
    x_test = np.vstack([X[N:], X[1:2]])
    result = predict(_net("erf", 3.0, 0.05, None), X[:N], Y, x_test, t=[0.5, math.inf])
    np.testing.assert_array_equal(result.mean[1, :3, 0], 0.0)
    assert result.mean[1, 3, 0] == pytest.approx(Y[1], abs=1e-12)
    np.testing.assert_allclose(result.train_mean[1, :, 0], Y, atol=1e-12)
    # equal norms: Θ/p → I, default η = 2/λ_max: every mode goes as 1 − e^{−2t}
    np.testing.assert_allclose(result.train_mean[0, :, 0], -math.expm1(-1.0) * Y, rtol=1e-10)
    assert any("χ₁^(−l)" in note and "(χ_c*/χ₁)^l" in note for note in result.notes)


def test_chaotic_finite_depth_decays_at_the_stated_rate() -> None:
    """Equal norms, mean-centred labels: f_∞(x ∉ X) at depth l decays like l (χ_c*/χ₁)^l."""
    from core.fixed_points import fixed_points

    w2, b2 = 3.0, 0.05
    fp = fixed_points(get_activation("erf"), w2, b2)
    assert fp.chi_c_star is not None and fp.chi_1 is not None
    y = Y - Y.mean()
    size = {}
    for depth in (40, 80):
        mean = predict(_net("erf", w2, b2, depth), X[:N], y, X[N:]).mean[0, :, 0]
        size[depth] = float(np.max(np.abs(mean)))
    predicted = 2 * (fp.chi_c_star / fp.chi_1) ** 40
    assert size[80] / size[40] == pytest.approx(predicted, rel=0.2)


def test_chaotic_nngp_limit_is_the_constant_correlation_kernel() -> None:
    """Σ^∞ = q*(c* 11ᵀ + (1 − c*) I): one constant prediction c* Σy/(1 − c* + n c*)."""
    from core.fixed_points import fixed_points

    fp = fixed_points(get_activation("erf"), 3.0, 0.05)
    assert fp.c_star is not None
    c = fp.c_star
    result = predict(_net("erf", 3.0, 0.05, None), X[:N], Y, X[N:], kernel="nngp")
    np.testing.assert_allclose(result.mean[0, :, 0], c * Y.sum() / (1 - c + N * c), rtol=1e-12)


def test_infinite_depth_with_diag_reg_is_the_regularised_constant() -> None:
    """diag_reg λ > 0 dominates λ_l A → 0: f = n p* ȳ/(n p* + λ) everywhere."""
    from core.fixed_points import fixed_points

    fp = fixed_points(get_activation("erf"), 0.6, 0.3)
    assert fp.p_star is not None
    result = predict(_net("erf", 0.6, 0.3, None), X[:N], Y, X[N:], diag_reg=0.5)
    expected = N * fp.p_star * Y.mean() / (N * fp.p_star + 0.5)
    np.testing.assert_allclose(result.mean[0, :, 0], expected, rtol=1e-12)
