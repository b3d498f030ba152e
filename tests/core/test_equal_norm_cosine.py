"""The equal-norm path's tables in cos θ₀ (core.equal_norm._cosine_tables), used for
|cos θ₀| ≤ COSINE_REACH, against the exact per-entry recursion."""

from __future__ import annotations

import numpy as np
import pytest

from core import equal_norm
from core.activations import get_activation
from core.kernels import _per_entry_states
from core.network import Network
from tests.core.spy import spy


@pytest.mark.parametrize(
    ("name", "w2", "b2", "depth", "rtol"),
    [
        ("erf", 1.5, 0.1, 100, 1e-12),
        ("erf", 3.0, 0.05, 50, 1e-12),
        ("tanh", 0.8, 0.05, 30, 1e-12),
        ("relu", 1.5, 0.1, 100, 1e-12),
    ],
)
def test_cosine_tables_match_the_per_entry_recursion(monkeypatch, name, w2, b2, depth, rtol):
    """Deficits to ``rtol`` relative (measured: 2e-14, 5e-14, 4e-14, 1e-13, as the
    ln θ₀ + θ₀ tables alone); the cosine tables were built and cover most pairs."""
    x = np.random.default_rng(0).standard_normal((80, 64))
    x *= 8.0 / np.linalg.norm(x, axis=1, keepdims=True)
    network = Network(get_activation(name), w2, b2, depth)
    built = spy(monkeypatch, equal_norm, "_cosine_tables")
    states, method = equal_norm.equal_norm_states(network, x, x, True, [depth], None)
    assert method.startswith("equal-norm") and built[0][0].shape[0] == 1
    cosine = x @ x.T / 64.0
    assert np.mean(np.abs(cosine) <= equal_norm.COSINE_REACH) > 0.9
    exact = _per_entry_states(network, x, x, True, [depth], None)[0]
    for kernel in ("nngp", "ntk"):
        got, want = getattr(states[0], kernel), getattr(exact, kernel)
        assert got.log10_deficit_scale == want.log10_deficit_scale
        e_got, e_want = got.deficit, want.deficit
        assert np.array_equal(e_got == 0.0, e_want == 0.0)
        np.testing.assert_allclose(e_got, e_want, rtol=rtol, atol=0)
