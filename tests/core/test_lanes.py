"""core.lanes: the vectorized layers give bit-for-bit the scalar step's kernels."""

from __future__ import annotations

import numpy as np
import pytest

from core import entry_loop
from core.activations import get_activation
from core.deficits import SNAP_RTOL
from core.erf_mismatch import SERIES_BELOW
from core.kernels import input_cosine_deficits
from core.lanes import WORK_ROWS, erf_lanes
from core.network import Network
from tests.core.spy import spy


def _inputs(n: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, 16))
    x[1] = x[0]  # a duplicate
    x[3] = (1.0 + 1e-9) * x[2]  # nearly one
    x[5] = 3.0 * x[4]  # one direction, another norm
    return x


def _states(network: Network, x1: np.ndarray, x2: np.ndarray, same: bool, depths: list[int]):
    d = x1.shape[1]
    a1 = network.first_sigma_w2 * np.einsum("ij,ij->i", x1, x1) / d
    a2 = a1 if same else network.first_sigma_w2 * np.einsum("ij,ij->i", x2, x2) / d
    delta = input_cosine_deficits(x1, x2, same)
    return entry_loop.entry_states(network, a1, a2, delta, same, depths, None)


@pytest.mark.parametrize(
    "name, w2, b2, same",
    [
        ("erf", 1.5, 0.1, True),
        ("erf", 1.5, 0.1, False),
        ("erf", 0.8, 0.3, True),
        ("erf", 4.0, 0.05, True),
        ("relu", 2.0, 0.1, True),
        ("relu", 1.5, 0.0, False),
        ("leaky_relu", 3.0, 0.2, True),
        ("abs", 0.9, 0.05, True),
    ],
)
def test_lane_layers_equal_the_scalar_step_bit_for_bit(
    monkeypatch: pytest.MonkeyPatch, name: str, w2: float, b2: float, same: bool
) -> None:
    network = Network(get_activation(name), w2, b2, 60)
    x1 = _inputs(150, 1)
    x2 = x1 if same else _inputs(90, 2)
    depths = [1, 6, 12, 25, 60]
    chosen = spy(monkeypatch, entry_loop, "_lane_layers")
    vector = _states(network, x1, x2, same, depths)
    assert chosen[0].sum() >= 10  # the lanes ran
    monkeypatch.setattr(entry_loop, "_lane_layers", lambda *args: np.zeros_like(chosen[0]))
    scalar = _states(network, x1, x2, same, depths)
    for v, s in zip(vector, scalar, strict=True):
        for part_v, part_s in ((v.nngp, s.nngp), (v.ntk, s.ntk)):
            assert part_v.log10_deficit_scale == part_s.log10_deficit_scale
            np.testing.assert_array_equal(part_v.deficit, part_s.deficit)


def test_lanes_the_scalar_step_must_take_are_flagged() -> None:
    """A linear-regime deficit and an unequal pair past the series' w are flagged; the
    other lanes' results equal the scalar step's next layer."""
    network = Network(get_activation("erf"), 1.5, 0.1, 20)
    x = _inputs(80, 3)
    a = network.first_sigma_w2 * np.einsum("ij,ij->i", x, x) / x.shape[1]
    slots = np.full(21, -1, np.int64)
    slots[1:] = np.arange(20)
    table, mism, layout, bias, *_ = entry_loop._diagonals(
        entry_loop.KIND_ERF, 0.0, False, 1.5, 0.1, a + network.first_sigma_b2, 20, slots,
        float(SNAP_RTOL),
    )  # fmt: skip
    layer = 10
    assert entry_loop._lane_layers(entry_loop.KIND_ERF, table, layout, *np.zeros((2, 20), int))[
        layer
    ]
    states = _states(network, x, x, True, list(range(1, 21)))
    es = states[layer - 1].nngp.deficit[0, 1:65].copy()
    et = states[layer - 1].ntk.deficit[0, 1:65].copy()
    lane_rows = np.ascontiguousarray(table.transpose(1, 2, 0)[layer])
    lane_rows[1, 1 + 7] *= 1.01  # lane 7: w ≈ 0.005 > 2⁻¹⁰
    es[9] = 1e-160 * table[0, layer, 0] * table[10, layer, 0]  # lane 9: linear regime
    base, terms = layout[layer]
    es_new, et_new = np.empty(64), np.empty(64)
    flag = np.empty(64, np.uint8)
    erf_lanes(
        1.5, bias[layer], entry_loop.SMALLEST_NONLINEAR, table[0, layer], lane_rows,
        mism[0, base : base + 2 + terms], np.ascontiguousarray(mism.T), 1, base, terms,
        es, et, es_new, et_new, flag, np.empty((WORK_ROWS, 64)),
    )  # fmt: skip
    assert list(np.nonzero(flag)[0]) == [7, 9]
    keep = flag == 0
    np.testing.assert_array_equal(es_new[keep], states[layer].nngp.deficit[0, 1:65][keep])
    np.testing.assert_array_equal(et_new[keep], states[layer].ntk.deficit[0, 1:65][keep])


@pytest.mark.parametrize("spread", [1e-3, 0.05, 0.3, 3.0])
def test_far_pairs_counts_the_pairs_past_the_series(spread: float) -> None:
    q = np.exp(np.random.default_rng(5).uniform(-spread, spread, 300))
    q1, q2 = np.meshgrid(q, q, indexing="ij")
    w = np.abs(q1 - q2) / (q1 + q2 + 4.0 * q1 * q2)
    upper = np.triu(np.ones(w.shape, dtype=bool), 1)
    expected = np.mean(w[upper] >= SERIES_BELOW)
    assert entry_loop._far_pairs(q) == pytest.approx(expected, abs=1e-12)
