"""compute_kernels / kernel_states against independent references.

References: the identity network's closed form; naive recursions in mpmath (dps 60-120,
computed here) for relu and erf; the per-entry path for the equal-norm table; analytic
growth rates at depth 100,000.
"""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from core.activations import get_activation
from core.equal_norm import equal_norm_states
from core.errors import InvalidInputError
from core.kernels import _per_entry_states, compute_kernels, kernel_states
from core.network import Network
from tests.core.mp_reference import EXPECTATIONS, mp_kernel_layers, mp_relu


def three_points() -> np.ndarray:
    x = np.random.default_rng(1).standard_normal((3, 4))
    x[2] *= 1.7
    return x


def deficits(kernel):
    n = len(kernel)
    return np.array(
        [
            [float(mp.sqrt(kernel[a][a] * kernel[b][b]) - kernel[a][b]) for b in range(n)]
            for a in range(n)
        ]
    )


def true_deficit(part) -> np.ndarray:
    return part.deficit * 10.0 ** (part.log10_deficit_scale + part.log10_scale)


def test_identity_network_closed_form():
    w2, b2, depth = 0.9, 0.1, 7
    x = np.random.default_rng(0).standard_normal((4, 5))
    result = compute_kernels(
        Network(get_activation("identity"), w2, b2, depth), x, depths=[1, depth]
    )
    s1 = w2 * x @ x.T / 5 + b2
    # Σ^L = w^{L-1} Σ¹ + b (1 − w^{L-1})/(1 − w);  Θ^L = Σ_j w^{L-j} Σ^j
    nngp = w2 ** (depth - 1) * s1 + b2 * (1 - w2 ** (depth - 1)) / (1 - w2)
    ntk = depth * w2 ** (depth - 1) * s1 + b2 / (1 - w2) * (
        (1 - w2**depth) / (1 - w2) - depth * w2 ** (depth - 1)
    )
    # entries near 0 (c ≈ 0) are accurate to ε relative to the diagonal
    for got, want in [(result.nngp[0], s1), (result.nngp[1], nngp), (result.ntk[1], ntk)]:
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15 * np.max(want))
    assert result.nngp_log10_scale.tolist() == [0.0, 0.0]


def test_relu_kernels_against_mpmath_recursion():
    mp.mp.dps = 40
    x = three_points()
    network = Network(get_activation("relu"), 1.7, 0.2, 6, input_sigma_w2=1.1, input_sigma_b2=0.05)
    result = compute_kernels(network, x, depths=[2, 6])
    # first layer uses the input variances
    s1 = 1.1 * x @ x.T / 4 + 0.05
    assert np.allclose(compute_kernels(network, x, depths=[1]).nngp[0], s1, rtol=1e-14)
    for i, depth in enumerate([2, 6]):
        sigma, theta = mp_kernel_layers(x, mp_relu, 1.7, 0.2, [depth], w0=1.1, b0=0.05)[depth]
        np.testing.assert_allclose(result.nngp[i], np.array(sigma, dtype=float), rtol=1e-13)
        np.testing.assert_allclose(result.ntk[i], np.array(theta, dtype=float), rtol=1e-13)


@pytest.mark.parametrize(
    ("name", "w2", "b2", "depth", "dps", "rtol"),
    [("relu", 1.5, 0.1, 200, 60, 1e-12), ("erf", 0.8, 0.05, 500, 120, 1e-12)],
)
def test_ordered_deficits_survive_where_float64_collapses(name, w2, b2, depth, dps, rtol):
    mp.mp.dps = dps
    x = three_points()
    network = Network(get_activation(name), w2, b2, depth)
    state = kernel_states(network, x, depths=[depth])[0]
    sigma, theta = mp_kernel_layers(x, EXPECTATIONS[name], w2, b2, [depth])[depth]
    for part, reference in [(state.nngp, sigma), (state.ntk, theta)]:
        expected = deficits(reference)
        off = ~np.eye(3, dtype=bool)
        assert np.max(expected[off] / float(reference[0][0])) < 1e-11  # below float64's reach
        np.testing.assert_allclose(true_deficit(part)[off], expected[off], rtol=rtol)
        assert np.all(np.diag(part.deficit) == 0.0)
        np.testing.assert_allclose(
            part.g1 * 10**part.log10_scale, [float(reference[a][a]) for a in range(3)], rtol=1e-13
        )
    # the naive float64 recursion has lost them: its kernel is q*·11ᵀ to the last digit
    dense = compute_kernels(network, x).nngp[0]
    assert np.ptp(dense) <= 4e-16 * np.max(dense)


def unit_sphere(n: int, d: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d))
    return x * np.sqrt(d) / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize(
    ("name", "w2", "b2"),
    [("relu", 1.5, 0.1), ("relu", 3.0, 0.1), ("erf", 3.0, 0.05), ("tanh", 0.8, 0.05)],
)
def test_equal_norm_table_matches_per_entry_recursion(name, w2, b2):
    x = unit_sphere(70, 8, 3)
    x[5] = x[3]  # an exact duplicate: deficit 0
    network = Network(get_activation(name), w2, b2, 30)
    table, method = equal_norm_states(network, x, x, True, [3, 30], None)
    exact = _per_entry_states(network, x, x, True, [3, 30], None)
    assert method.startswith("equal-norm")
    for a, b in zip(table, exact, strict=True):
        for kernel in ("nngp", "ntk"):
            pa, pb = getattr(a, kernel), getattr(b, kernel)
            assert pa.log10_scale == pb.log10_scale
            ea, eb = true_deficit(pa), true_deficit(pb)
            positive = eb > 0
            assert np.max(np.abs(ea - eb)[positive] / eb[positive]) < 1e-10
            assert np.all(ea[~positive] == 0.0)
            np.testing.assert_allclose(
                pa.dense(), pb.dense(), rtol=0, atol=1e-10 * np.max(pb.dense())
            )
    assert compute_kernels(network, x).method.startswith("equal-norm")


@settings(max_examples=25, deadline=None)
@given(
    x=arrays(np.float64, (5, 3), elements=st.floats(-3, 3, allow_nan=False)),
    name=st.sampled_from(["relu", "erf", "abs", "identity"]),
    w2=st.floats(0.5, 3.0),
    b2=st.floats(0.0, 0.5),
    depth=st.integers(1, 8),
)
def test_symmetric_psd_and_consistent_diagonal(x, name, w2, b2, depth):
    network = Network(get_activation(name), w2, b2, depth)
    result = compute_kernels(network, x)
    state = kernel_states(network, x, depths=[depth])[0]
    for kernel, part in [(result.nngp[0], state.nngp), (result.ntk[0], state.ntk)]:
        assert np.all(np.isfinite(kernel))
        assert np.array_equal(kernel, kernel.T)
        scale = max(float(np.max(np.abs(kernel))), 1e-300)
        assert np.min(np.linalg.eigvalsh(kernel)) >= -1e-12 * scale
        np.testing.assert_allclose(np.diag(kernel), part.g1, rtol=1e-15)
    # the cross-kernel call agrees with the Gram call
    cross = compute_kernels(network, x[:2], x)
    np.testing.assert_allclose(cross.ntk[0], result.ntk[0][:2], rtol=1e-12, atol=1e-14 * scale)


def test_relu_chaotic_scale_follows_the_analytic_growth():
    w2, b2, depth = 3.0, 0.1, 10_000
    x = three_points()[:2]
    result = compute_kernels(Network(get_activation("relu"), w2, b2, depth), x)
    assert np.all(np.isfinite(result.ntk)) and np.all(np.isfinite(result.nngp))
    # relu, χ₁ = w2/2: q^l = χ^{l-1}(q¹ + β) − β with β = b2/(χ − 1), and
    # Θ^L_aa = Σ_j χ^{L-j} q^j = χ^{L-1}[L(q¹ + β) − β(χ − χ^{1-L})/(χ − 1)]
    chi = w2 / 2
    beta = b2 / (chi - 1)
    q1 = w2 * np.sum(x * x, axis=1) / x.shape[1] + b2
    log10_ntk = (depth - 1) * math.log10(chi) + np.log10(
        depth * (q1 + beta) - beta * chi / (chi - 1)
    )
    log10_nngp = (depth - 1) * math.log10(chi) + np.log10(q1 + beta)
    ntk_scale, nngp_scale = result.ntk_log10_scale[0], result.nngp_log10_scale[0]
    np.testing.assert_allclose(np.log10(np.diag(result.ntk[0])) + ntk_scale, log10_ntk, rtol=1e-12)
    np.testing.assert_allclose(
        np.log10(np.diag(result.nngp[0])) + nngp_scale, log10_nngp, rtol=1e-12
    )
    assert ntk_scale > 308  # the kernel itself is far beyond float64


def test_depth_100000_chaotic_is_finite_and_grows_like_chi_1():
    w2, b2 = 3.0, 0.05
    x = three_points()
    network = Network(get_activation("erf"), w2, b2, 100_000)
    result = compute_kernels(network, x, depths=[50_000, 100_000])
    assert np.all(np.isfinite(result.ntk)) and np.all(np.isfinite(result.nngp))
    q_star = float(result.nngp[1][0, 0])
    assert q_star == pytest.approx(
        w2 * 2 / np.pi * np.arcsin(2 * q_star / (1 + 2 * q_star)) + b2, rel=1e-14
    )
    chi_1 = w2 * 4 / np.pi / math.sqrt(1 + 4 * q_star)
    growth = np.log10(np.diag(result.ntk[1])) + result.ntk_log10_scale[1]
    growth -= np.log10(np.diag(result.ntk[0])) + result.ntk_log10_scale[0]
    np.testing.assert_allclose(growth, 50_000 * math.log10(chi_1), rtol=1e-11)
    # off the diagonal Θ_ab/Θ_aa → 0 (chaotic: Θ ∝ I at depth), to float64 resolution
    off = result.ntk[1] - np.diag(np.diag(result.ntk[1]))
    assert np.max(np.abs(off)) < 1e-14 * np.min(np.diag(result.ntk[1]))


def test_depth_100000_ordered_converges_to_the_fixed_point():
    w2, b2, depth = 1.5, 0.1, 100_000
    x = three_points()[:2]
    network = Network(get_activation("relu"), w2, b2, depth)
    result = compute_kernels(network, x)
    q_star = b2 / (1 - w2 / 2)
    p_star = q_star / (1 - w2 / 2)
    np.testing.assert_allclose(result.nngp[0], q_star, rtol=1e-13)
    np.testing.assert_allclose(result.ntk[0], p_star, rtol=1e-13)
    state = kernel_states(network, x, depths=[depth])[0]
    # the deficits are carried far below float64: Σ's decays like χ₁^L, Θ's like χ₁^{L/2}
    assert -0.5 < (state.nngp.log10_deficit_scale - depth * math.log10(w2 / 2)) / depth < 0.5
    assert state.nngp.deficit[0, 1] > 0 and state.ntk.deficit[0, 1] > 0
    assert state.ntk.log10_deficit_scale > state.nngp.log10_deficit_scale


def test_validation_names_the_field():
    network = Network(get_activation("relu"), 2.0, 0.1, 5)
    x = np.ones((2, 3))
    cases = [
        (dict(x1=np.ones((2, 3, 1))), "x1"),
        (dict(x1=[[1.0, np.nan]]), "x1"),
        (dict(x1=x, x2=np.ones((2, 4))), "x2"),
        (dict(x1=x, depths=[0]), "depths"),
        (dict(x1=x, depths=[3, 2]), "depths"),
        (dict(x1=x, depths=[6]), "depths"),
        (dict(x1=x, kernels=("nngp", "foo")), "kernels"),
    ]
    for kwargs, field in cases:
        with pytest.raises(InvalidInputError) as caught:
            compute_kernels(network, **kwargs)
        assert caught.value.field == field
    with pytest.raises(InvalidInputError, match="/v1/predictions") as caught:
        compute_kernels(Network(get_activation("relu"), 2.0, 0.1, None), x)
    result = compute_kernels(network, x, kernels=["ntk"], depths=[1, 5])
    assert result.nngp is None and result.ntk.shape == (2, 2, 2)


@pytest.mark.parametrize(("name", "w2", "b2", "depth", "dps"), [("relu", 1.5, 0.1, 1300, 420)])
def test_scaled_duplicates_keep_their_norm_mismatch_into_the_linear_regime(
    name, w2, b2, depth, dps
):
    """x and 2x have input cosine 1: their deficits come from the norm mismatch alone and
    fall below 2^-500 (the leading-term regime) before depth 1300."""
    mp.mp.dps = dps
    x = three_points()
    x[1] = 2.0 * x[0]
    network = Network(get_activation(name), w2, b2, depth)
    state = kernel_states(network, x, depths=[depth])[0]
    sigma, theta = mp_kernel_layers(x, EXPECTATIONS[name], w2, b2, [depth])[depth]
    assert 0.0 < deficits(sigma)[0, 1] < 1e-155 * float(sigma[0][0])
    for part, reference in [(state.nngp, sigma), (state.ntk, theta)]:
        expected = deficits(reference)
        off = ~np.eye(3, dtype=bool)
        np.testing.assert_allclose(true_deficit(part)[off], expected[off], rtol=1e-12)


@pytest.mark.parametrize(("name", "w2", "b2"), [("relu", 1.5, 0.1), ("erf", 1.5, 0.1)])
def test_cross_kernel_across_blocks_against_mpmath(name, w2, b2):
    """x1 ≠ x2 (no symmetry), sizes across the compiled loop's 64 × 64 blocks; a few
    entries checked against the mpmath recursion, the Gram call against the cross call."""
    mp.mp.dps = 40
    rng = np.random.default_rng(5)
    x = rng.standard_normal((70, 4)) * rng.uniform(0.5, 2.0, (70, 1))
    network = Network(get_activation(name), w2, b2, 12)
    gram = compute_kernels(network, x, depths=[3, 12])
    cross = compute_kernels(network, x[:66], x[60:], depths=[3, 12])
    for got, full in [(cross.nngp, gram.nngp), (cross.ntk, gram.ntk)]:
        np.testing.assert_allclose(got, full[:, :66, 60:], rtol=1e-13, atol=0)
        assert np.array_equal(full, np.swapaxes(full, 1, 2))
    picked = x[[0, 63, 64, 69]]
    reference = mp_kernel_layers(picked, EXPECTATIONS[name], w2, b2, [3, 12])
    for i, depth in enumerate([3, 12]):
        sigma, theta = reference[depth]
        index = np.ix_([0, 63, 64, 69], [0, 63, 64, 69])
        np.testing.assert_allclose(gram.nngp[i][index], np.array(sigma, dtype=float), rtol=1e-13)
        np.testing.assert_allclose(gram.ntk[i][index], np.array(theta, dtype=float), rtol=1e-13)


@pytest.mark.parametrize(("scale", "gap"), [(1e3, 0.1), (1e3, 1e-3), (1e-3, 2e-3), (30.0, 0.1)])
def test_erf_kernels_of_unequal_norms_against_mpmath(scale, gap):
    """Norms a relative ``gap`` apart at first-layer variance ~``scale``: the compiled loop's
    norm-mismatch term was off by up to 3e-8 relative (q ~ 1e3, 10 % apart) before it used
    closed_forms' erf mismatch. Entries and deficits to 1e-12 relative."""
    mp.mp.dps = 40
    r = math.sqrt(scale * (1.0 + gap))
    x = np.array([[math.sqrt(scale), 0.0], [0.999 * r, math.sqrt(1.0 - 0.999**2) * r]])
    result = compute_kernels(Network(get_activation("erf"), 1.5, 0.1, 3), x, depths=[2, 3])
    reference = mp_kernel_layers(x, EXPECTATIONS["erf"], 1.5, 0.1, [2, 3])
    for i, depth in enumerate([2, 3]):
        for ours, scale10, exact in (
            (result.nngp, result.nngp_log10_scale, reference[depth][0]),
            (result.ntk, result.ntk_log10_scale, reference[depth][1]),
        ):
            kernel = ours[i] * 10.0 ** scale10[i]
            np.testing.assert_allclose(kernel, np.array(exact, dtype=float), rtol=1e-12)
            deficit = math.sqrt(kernel[0, 0] * kernel[1, 1]) - kernel[0, 1]
            assert deficit == pytest.approx(deficits(exact)[0, 1], rel=1e-12)


def test_erf_with_variances_past_the_mismatch_series_against_mpmath():
    """Inputs of norms 1e-3 … 1e6 (first-layer variances up to ~1e12): the norm-mismatch
    series' coefficients would overflow there (core.erf_mismatch.SERIES_MAX_Q); those pairs
    take the closed-form rule, and every entry matches mpmath to 1e-13 of √(K_aaK_bb) (a
    kernel from deficits is exact to rounding at its diagonals' scale; Θ's diagonal is
    ~1e6 times its off-diagonal here), the diagonals to 1e-14."""
    mp.mp.dps = 50
    x = np.random.default_rng(4).standard_normal((9, 4))
    x[:3] *= np.array([1e6, 2e6, 7e5])[:, None]
    x[3:5] *= 1e-3
    network = Network(get_activation("erf"), 1.5, 0.1, 5)
    result = compute_kernels(network, x, depths=[2, 5])
    for i, depth in enumerate([2, 5]):
        sigma, theta = mp_kernel_layers(x, EXPECTATIONS["erf"], 1.5, 0.1, [depth])[depth]
        for got, reference in ((result.nngp[i], sigma), (result.ntk[i], theta)):
            want = np.array(reference, dtype=float)
            assert np.all(np.isfinite(got))
            np.testing.assert_allclose(np.diag(got), np.diag(want), rtol=1e-14)
            scale = np.sqrt(np.outer(np.diag(want), np.diag(want)))
            assert np.max(np.abs(got - want) / scale) <= 1e-13
