"""The equal-norm path builds its tables only over the input angles the pairs reach
(core.equal_norm._reach) and reads cos θ₀ from the Gram matrix in its one pass over the
pairs: against the exact per-entry recursion (rows of exactly equal norm, so that the two
paths compute the same thing, near-duplicate and antipodal pairs included), against the
full tables, and the kernels against their deficits."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core import equal_norm
from core.activations import get_activation
from core.kernels import _per_entry_states, compute_kernels
from core.network import Network


def signed_rows(n: int, seed: int) -> np.ndarray:
    """Rows ±v, one v (norms exactly equal), with a pair at δ = 1 − cos ≈ 4e-20 (below
    DELTA_MIN: exact, on the grid), ≈ 4e-14 (a near-duplicate), ≈ 4e-8, a duplicate, an
    antipodal and a near-antipodal pair."""
    v = np.concatenate([[1e-9, 1e-6, 1e-3], np.random.default_rng(0).uniform(0.5, 1.5, 13)])
    signs = np.random.default_rng(seed).choice([-1.0, 1.0], size=(n, v.size))
    for row, flip in ((1, 0), (2, 1), (3, 2)):
        signs[row] = signs[0]
        signs[row, flip] *= -1.0
    signs[4] = signs[0]
    signs[5] = -signs[0]
    signs[6] = -signs[0]
    signs[6, 0] *= -1.0
    return signs * v


def sphere(n: int, d: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d))
    return x * math.sqrt(d) / np.linalg.norm(x, axis=1, keepdims=True)


def assert_deficits_match(states, exact, rtol: float) -> None:
    for got_state, want_state in zip(states, exact, strict=True):
        for kernel in ("nngp", "ntk"):
            got, want = getattr(got_state, kernel), getattr(want_state, kernel)
            assert got.log10_scale == want.log10_scale
            assert got.log10_deficit_scale == want.log10_deficit_scale
            positive = want.deficit > 0.0
            assert np.array_equal(got.deficit > 0.0, positive)
            assert np.all(got.deficit[~positive] == 0.0)
            np.testing.assert_allclose(
                got.deficit[positive], want.deficit[positive], rtol=rtol, atol=0.0
            )


@pytest.mark.parametrize(
    ("name", "w2", "depths"),
    [
        ("erf", 0.5, [1, 7, 60]),
        ("erf", 3.0, [1, 7, 60]),
        ("relu", 1.5, [2, 60]),
        ("tanh", 3.0, [5, 40]),
        ("erf", 3.0, [1500]),
    ],
)
@pytest.mark.parametrize("cross", [False, True])
def test_tables_over_the_reached_angles_match_the_recursion(name, w2, depths, cross):
    """Deficits to 3e-12 relative (measured: 1.5e-13 erf ordered, 1.5e-12 erf chaotic,
    2.4e-13 relu, 6.4e-13 tanh, 4.7e-13 erf at depth 1500; the same as the full tables),
    exact zeros where δ = 0; fewer than all 32 panels were built."""
    x = signed_rows(80, 1)
    if cross:
        y = signed_rows(70, 2)
        y[10], y[11], y[12] = x[20], -x[21], x[22]
        y[12, 0] *= -1.0
    else:
        y = x
    network = Network(get_activation(name), w2, 0.1, depths[-1])
    states, method = equal_norm.equal_norm_states(network, x, y, not cross, depths, None)
    assert "of 32 panels" in method and "32 of 32" not in method
    exact = _per_entry_states(network, x, y, not cross, depths, None)
    assert_deficits_match(states, exact, 3e-12)


def full_reach(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the tables span every angle and every cosine panel, as before _reach."""
    original = equal_norm._reach

    def everything(*args):
        _, _, _, tiny = original(*args)
        return equal_norm.THETA_MIN, math.pi, (0, equal_norm.COSINE_PANELS - 1), tiny

    monkeypatch.setattr(equal_norm, "_reach", everything)


@pytest.mark.parametrize(("name", "w2", "depth"), [("erf", 1.5, 100), ("relu", 1.5, 100)])
def test_reached_tables_equal_the_full_tables(monkeypatch, name, w2, depth):
    """The panels built are those of the full tables: kernels to 1e-13 of their largest
    entry and deficits to 1e-13 relative (measured: below 3e-15)."""
    x = sphere(120, 64, 0)
    network = Network(get_activation(name), w2, 0.1, depth)
    reached = compute_kernels(network, x)
    states = equal_norm.equal_norm_states(network, x, x, True, [depth], None)[0][0]
    assert "of 32 panels" in reached.method and "32 of 32" not in reached.method
    full_reach(monkeypatch)
    full = compute_kernels(network, x)
    assert "32 of 32 panels" in full.method and "64 of 64 panels" in full.method
    full_states = equal_norm.equal_norm_states(network, x, x, True, [depth], None)[0][0]
    for kernel in ("nngp", "ntk"):
        got, want = getattr(reached, kernel)[0], getattr(full, kernel)[0]
        np.testing.assert_allclose(got, want, rtol=0.0, atol=1e-13 * np.max(np.abs(want)))
        e_got = getattr(states, kernel).deficit
        e_want = getattr(full_states, kernel).deficit
        np.testing.assert_allclose(e_got, e_want, rtol=1e-13, atol=0.0)


@pytest.mark.parametrize(("name", "w2", "depth"), [("erf", 1.5, 100), ("erf", 0.5, 30)])
def test_kernels_from_the_cosine_polynomials_equal_roots_minus_deficits(name, w2, depth):
    """compute_kernels reads the kernels from polynomials with roots − factor·E folded in:
    they equal √(K_aa K_bb) − 10^s·E from the deficits to 1e-14 of the largest entry."""
    x = sphere(100, 64, 4)
    network = Network(get_activation(name), w2, 0.1, depth)
    result = compute_kernels(network, x)
    assert "polynomials in cos θ" in result.method
    state = equal_norm.equal_norm_states(network, x, x, True, [depth], None)[0][0]
    for kernel in ("nngp", "ntk"):
        part = getattr(state, kernel)
        want = part.dense()
        got = getattr(result, kernel)[0]
        np.testing.assert_allclose(got, want, rtol=0.0, atol=1e-14 * np.max(np.abs(want)))
        assert np.array_equal(got, got.T)


def test_inputs_without_cosine_panels_and_on_a_circle():
    """A cluster (every cos θ₀ > COSINE_REACH: no cosine panel) and points on a circle
    (every angle) against the per-entry recursion, to 1e-12 relative (measured 1e-13)."""
    rng = np.random.default_rng(5)
    cluster = rng.standard_normal(64) + 0.25 * rng.standard_normal((70, 64))
    cluster *= 8.0 / np.linalg.norm(cluster, axis=1, keepdims=True)
    cosine = cluster @ cluster.T / 64.0
    assert np.min(cosine) > equal_norm.COSINE_REACH
    network = Network(get_activation("erf"), 1.5, 0.1, 50)
    states, method = equal_norm.equal_norm_states(network, cluster, cluster, True, [50], None)
    assert "no pair in |cos θ|" in method
    exact = _per_entry_states(network, cluster, cluster, True, [50], None)
    assert_deficits_match(states, exact, 1e-12)
    circle = sphere(90, 2, 9)
    network = Network(get_activation("relu"), 0.5, 0.1, 50)
    states, method = equal_norm.equal_norm_states(network, circle, circle, True, [50], None)
    exact = _per_entry_states(network, circle, circle, True, [50], None)
    assert_deficits_match(states, exact, 1e-12)
