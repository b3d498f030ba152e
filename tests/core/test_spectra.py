"""Spectra of Σ^l and Θ^l (MATH.md §4): eigenvalues against mpmath, the large-depth laws.

mpmath evaluates the kernel recursion at high precision (tests/core/test_predictions.py)
and its eigenvalues (``mpmath.eigsy``); the large-depth laws are MATH.md §4's closed forms
with q*, p*, c*, χ₁ from core.fixed_points.
"""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest

from core.activations import get_activation
from core.fixed_points import fixed_points
from core.network import Network
from core.spectra import FLOAT_MAX, spectra
from tests.core.test_predictions import mp_kernels, naive_erf_ntk, sphere_points


def _net(activation: str, sigma_w2: float, sigma_b2: float, depth: int | None) -> Network:
    return Network(get_activation(activation), sigma_w2, sigma_b2, depth)


def _mp_log10_eigenvalues(matrix: mp.matrix) -> np.ndarray:
    return np.array(sorted(float(mp.log10(e)) for e in mp.eigsy(matrix, eigvals_only=True)))


@pytest.mark.parametrize(
    ("activation", "sigma_w2", "sigma_b2", "depths"),
    [("relu", 1.5, 0.1, [1, 4, 20]), ("erf", 3.0, 0.05, [3, 30])],
)
def test_eigenvalues_match_mpmath(
    activation: str, sigma_w2: float, sigma_b2: float, depths: list[int]
) -> None:
    x = sphere_points(5, 6, seed=11)
    result = spectra(_net(activation, sigma_w2, sigma_b2, max(depths)), x, depths, eigenvalues=True)
    assert result.ntk.eigenvalues is not None and result.nngp.eigenvalues is not None
    with mp.workdps(40):
        ref = mp_kernels(activation, sigma_w2, sigma_b2, x, depths, 40)
        for i, depth in enumerate(depths):
            for index, spec in ((0, result.nngp), (1, result.ntk)):
                expected = _mp_log10_eigenvalues(ref[depth][index])
                assert spec.eigenvalues is not None
                got = np.log10(spec.eigenvalues[i]) + spec.log10_scale[i]
                np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
                assert spec.log10_lambda_min[i] == pytest.approx(expected[0], abs=1e-12)
                assert spec.log10_lambda_max[i] == pytest.approx(expected[-1], abs=1e-12)
                kappa = 10 ** (expected[-1] - expected[0])
                assert spec.condition_number[i] == pytest.approx(kappa, rel=1e-11)
                assert not spec.condition_number_is_lower_bound[i]


def test_deep_ordered_lambda_min_is_resolved_below_float64_noise() -> None:
    """erf, χ₁ = 0.44, depth 100: λ_min/λ_max ~ 1e-35, far below n·eps. Ours matches mpmath
    at 120 digits; the plain float64 eigenvalues are noise."""
    x = sphere_points(5, 3, seed=2)
    result = spectra(_net("erf", 0.6, 0.3, 100), x)
    with mp.workdps(120):
        ref = mp_kernels("erf", 0.6, 0.3, x, [100], 120)[100]
        for index, spec in ((0, result.nngp), (1, result.ntk)):
            expected = _mp_log10_eigenvalues(ref[index])
            assert spec.log10_lambda_min[0] == pytest.approx(expected[0], abs=1e-9)
            assert spec.log10_condition_number[0] == pytest.approx(
                expected[-1] - expected[0], abs=1e-9
            )
            assert not spec.condition_number_is_lower_bound[0]
    assert result.ntk.log10_condition_number[0] > 30
    naive = np.linalg.eigvalsh(naive_erf_ntk(0.6, 0.3, x, 100))
    assert abs(math.log10(abs(naive[0])) - expected[0]) > 10  # noise, not λ_min


def test_ordered_large_depth_laws() -> None:
    """λ_max(Θ) → n p*, λ_max(Σ) → n q*; the NTK bulk falls like l χ₁^l (erf)."""
    w2, b2 = 0.6, 0.3
    fp = fixed_points(get_activation("erf"), w2, b2)
    assert fp.p_star is not None and fp.q_star is not None and fp.chi_1 is not None
    x = sphere_points(6, 3, seed=5)
    depths = [200, 400]
    result = spectra(_net("erf", w2, b2, 400), x, depths)
    n = x.shape[0]
    for i in range(2):
        assert 10 ** result.ntk.log10_lambda_max[i] == pytest.approx(n * fp.p_star, rel=1e-10)
        assert 10 ** result.nngp.log10_lambda_max[i] == pytest.approx(n * fp.q_star, rel=1e-10)
    measured = result.ntk.log10_lambda_min[1] - result.ntk.log10_lambda_min[0]
    rates = result.theory["ntk_log10_lambda_bulk_rate"]
    assert measured == pytest.approx(rates[1] - rates[0], abs=0.01)
    assert result.theory["phase"] == "ordered"
    assert result.theory["ntk_lambda_max_limit"] == pytest.approx(n * fp.p_star)


def test_chaotic_large_depth_laws() -> None:
    """κ(Σ) → ((n−1)c* + 1)/(1 − c*) and κ(Θ) → 1 for inputs of equal norm."""
    w2, b2 = 3.0, 0.05
    fp = fixed_points(get_activation("erf"), w2, b2)
    assert fp.c_star is not None
    x = sphere_points(6, 3, seed=9)
    n = x.shape[0]
    result = spectra(_net("erf", w2, b2, 3000), x, [300, 3000])
    expected = ((n - 1) * fp.c_star + 1) / (1 - fp.c_star)
    assert result.nngp.condition_number[0] == pytest.approx(expected, rel=1e-9)
    assert result.theory["nngp_condition_number_limit"] == pytest.approx(expected)
    assert result.ntk.condition_number[0] == pytest.approx(1.0, abs=1e-3)
    assert result.ntk.condition_number[1] == pytest.approx(1.0, abs=1e-12)
    # Θ ~ χ₁^3000 ≈ 10^391 is beyond float64: carried by the scale, every number finite
    assert result.ntk.log10_lambda_max[1] > 390
    assert np.all(np.isfinite(result.ntk.lambda_max)) and np.all(result.ntk.lambda_max > 0)


@pytest.mark.parametrize(("activation", "k"), [("relu", 3.0), ("erf", 2.0)])
def test_critical_condition_number(activation: str, k: float) -> None:
    """κ(Θ) → (n + k)/k: (n+2)/2 (MATH.md) for smooth φ, but (n+3)/3 for relu."""
    if activation == "relu":
        w2, b2 = 2.0, 0.0
    else:
        from core.phase_diagram import critical_line

        b2 = 0.1
        w2 = float(critical_line(get_activation("erf"), np.array([b2]))[0])
    x = sphere_points(6, 3, seed=3)
    n = x.shape[0]
    result = spectra(_net(activation, w2, b2, 400), x, [100, 400])
    assert result.theory["phase"] == "critical"
    assert result.theory["critical_k"] == k
    limit = (n + k) / k
    assert result.theory["ntk_condition_number_limit"] == pytest.approx(limit)
    errors = [abs(kappa - limit) for kappa in result.ntk.condition_number]
    assert errors[1] < errors[0]  # approaching
    assert errors[1] < 0.05 * limit


def test_unresolvable_condition_number_is_a_flagged_bound() -> None:
    """Duplicate inputs make Θ singular: λ_min is the resolution and κ a flagged lower bound."""
    x = sphere_points(4, 3, seed=4)
    x = np.vstack([x, x[:1]])
    result = spectra(_net("relu", 1.5, 0.1, 5), x)
    for spec in (result.ntk, result.nngp):
        assert spec.condition_number_is_lower_bound[0]
        assert math.isfinite(spec.condition_number[0]) and spec.condition_number[0] > 1e12
        assert np.all(np.isfinite(spec.lambda_min))


def test_infinite_depth_spectra() -> None:
    x = sphere_points(5, 3, seed=6)
    ordered = spectra(_net("erf", 0.6, 0.3, None), x)
    assert ordered.depths == [None]
    assert ordered.ntk.condition_number[0] == FLOAT_MAX
    assert ordered.ntk.condition_number_is_lower_bound[0]
    chaotic = spectra(_net("erf", 3.0, 0.05, None), x)
    assert chaotic.ntk.condition_number[0] == pytest.approx(1.0, abs=1e-12)
    # finite depths of an infinitely deep network are the same as of a deep enough one
    finite = spectra(_net("erf", 0.6, 0.3, None), x, [7])
    same = spectra(_net("erf", 0.6, 0.3, 7), x)
    assert finite.depths == [7]
    np.testing.assert_array_equal(finite.ntk.lambda_min, same.ntk.lambda_min)
