"""erf kernels of unequal-norm inputs at depths past the snap layer l0 (after which every
Σ_aa is one value and core.settled_tail's tables replace the remaining layers), against
the exact entry loop with the tail disabled and, for a few entries, the mpmath recursion.

The inputs include a scaled duplicate (input cosine 1: a deficit from the norm mismatch
alone), a near-duplicate (1 − cos ~ 1e-14) and an exact duplicate (deficit 0).
"""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest

from core import entry_loop
from core.activations import get_activation
from core.kernels import compute_kernels, kernel_states
from core.network import Network
from tests.core.mp_reference import EXPECTATIONS, mp_kernel_layers
from tests.core.spy import spy

N = 70  # 4900 pairs: above entry_loop.TAIL_MIN_PAIRS


def points(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, 6)) * rng.uniform(0.6, 1.6, (N, 1))
    x[1] = 1.05 * x[0]
    x[2] = x[0] + 1e-7 * rng.standard_normal(6)
    x[3] = x[0]
    return x


def true_deficit(part) -> np.ndarray:
    return part.deficit * 10.0 ** (part.log10_deficit_scale + part.log10_scale)


def with_tail(monkeypatch, network, x, depths):
    """kernel_states with the tail, checking that it was used past a snap layer < depth."""
    original = entry_loop._tail_tables
    built = spy(monkeypatch, entry_loop, "_tail_tables")
    states = kernel_states(network, x, depths=depths)
    monkeypatch.setattr(entry_loop, "_tail_tables", original)
    assert len(built) == 1 and built[0] is not None and built[0].layer < depths[-1]
    return states, built[0].layer


@pytest.mark.parametrize(
    ("w2", "b2", "depths"),
    [
        (1.5, 0.1, [20, 50, 100]),  # issue #3's network: slowly ordered (χ₁ = 0.98)
        (0.8, 0.05, [60, 300]),  # ordered: deficits far below the kernel's resolution
        (3.0, 0.1, [40, 300]),  # chaotic (χ₁ = 1.33)
        (1.2, 0.5, [1300]),  # ordered into the linear regime (deficits ~1e-227)
    ],
)
def test_tail_matches_the_exact_entry_loop(monkeypatch, w2, b2, depths):
    """Deficits to 1e-13 relative (measured ≤ 4e-14 at depth 1300), diagonals and scales
    identical; the depths before l0 run the loop itself (identical). The near-duplicate's
    deficits with 0 and 3 are conditioned by its input cosine deficit (~1e-14, known to
    ~1e-10) and by its Θ diagonal 1e-7 from theirs (the mismatch, known to the diagonals'
    rounding): both paths are 2–4e-10 from mpmath there at depth 300 (0.8, 0.05), 1.2e-10
    apart; 1e-9 there."""
    x = points(0)
    network = Network(get_activation("erf"), w2, b2, depths[-1])
    tailed, start = with_tail(monkeypatch, network, x, depths)
    monkeypatch.setattr(entry_loop, "TAIL_MIN_PAIRS", 10**9)
    exact = kernel_states(network, x, depths=depths)
    for ours, reference in zip(tailed, exact, strict=True):
        for name in ("nngp", "ntk"):
            got, want = getattr(ours, name), getattr(reference, name)
            assert np.array_equal(got.g1, want.g1) and got.log10_scale == want.log10_scale
            e_got, e_want = true_deficit(got), true_deficit(want)
            assert np.array_equal(e_got == 0.0, e_want == 0.0)
            if ours.depth <= start:
                assert np.array_equal(e_got, e_want)
            else:
                rtol = np.full(e_got.shape, 1e-13)
                rtol[np.ix_([0, 2, 3], [0, 2, 3])] = 1e-9
                assert np.all(np.abs(e_got - e_want) <= rtol * e_want), name
    assert true_deficit(tailed[-1].nngp)[0, 1] > 0.0  # the scaled duplicate's mismatch


def test_tail_kernels_against_mpmath(monkeypatch):
    """Issue #3's network at depth 100 (l0 ~ 40): four entries' kernels and deficits
    (the scaled duplicate's included) against the mpmath recursion at 1e-12 relative."""
    mp.mp.dps = 40
    x = points(1)
    network = Network(get_activation("erf"), 1.5, 0.1, 100)
    _, start = with_tail(monkeypatch, network, x, [100])
    assert start < 90
    result = compute_kernels(network, x)
    assert result.method.endswith(f"layers past {start} from tables of the settled map")
    picked = [0, 1, 2, 9]
    reference = mp_kernel_layers(x[picked], EXPECTATIONS["erf"], 1.5, 0.1, [100])[100]
    index = np.ix_(picked, picked)
    for ours, exact in zip((result.nngp[0], result.ntk[0]), reference, strict=True):
        np.testing.assert_allclose(ours[index], np.array(exact, dtype=float), rtol=1e-12)
    state = kernel_states(network, x, depths=[100])[0]
    for part, exact in zip((state.nngp, state.ntk), reference, strict=True):
        deficit = true_deficit(part)[index]
        for a, b in [(0, 1), (0, 2), (0, 3), (1, 3)]:
            want = float(mp.sqrt(exact[a][a] * exact[b][b]) - exact[a][b])
            assert deficit[a, b] == pytest.approx(want, rel=1e-12), (a, b)
            assert math.isfinite(want) and want > 0.0


@pytest.mark.parametrize(("w2", "b2", "depths"), [(1.5, 0.1, [50, 100]), (3.0, 0.1, [40, 300])])
def test_plain_float_slots_match_the_exponent_path(monkeypatch, w2, b2, depths):
    """The tail's slots whose scales fit in 2^±FAST_EXPONENT are formed in plain floats
    (entry_loop._fast_tail_slots): against the same tables with every slot on the
    exponent path, deficits to 4e-16 relative (measured: bitwise equal, the scalings being
    powers of two), zeros identical."""
    x = points(2)
    network = Network(get_activation("erf"), w2, b2, depths[-1])
    marked = spy(monkeypatch, entry_loop, "_fast_tail_slots")
    fast = kernel_states(network, x, depths=depths)
    assert len(marked) == 1 and np.any(marked[0][1][:, 0, 0] == entry_loop.FAST_SLOT)
    monkeypatch.setattr(entry_loop, "_fast_tail_slots", lambda *scales: scales)
    slow = kernel_states(network, x, depths=depths)
    for ours, reference in zip(fast, slow, strict=True):
        for name in ("nngp", "ntk"):
            e_got = true_deficit(getattr(ours, name))
            e_want = true_deficit(getattr(reference, name))
            assert np.array_equal(e_got == 0.0, e_want == 0.0)
            assert np.all(np.abs(e_got - e_want) <= 4e-16 * e_want), name
