"""The blocked Mehler sums (core/activations/mehler.py) against two references.

* Every term of Σ_k c^k α_k(a)α_k(b) summed in long double from the same Hermite rows, on
  kernels larger than a block (symmetric, cross and flat), with c spread over [−1, 1] and
  entries within 1e-12 of c = ±1: sums within 1e-14 of √(T_aT_b), deficits within 1e-12
  relative (the reference deficit is Σ α_aα_b(1 − c^k) + ½Σ(α_a − α_b)² − ½(√T_a − √T_b)²,
  with 1 − c^k = −expm1(k log|c|) where c^k > 0: no cancellation).
* mpmath (tanh): deficits near c = ±1, at equal and unequal variances, as
  ½√(V1V2)·E[(φ(u)/√V1 − φ(v)/√V2)²] by a 2-D Gauss–Legendre rule: within 1e-10 relative.
"""

from __future__ import annotations

from typing import Any

import mpmath as mp
import numpy as np
import pytest

from core.activations import get_activation, mehler

LD = np.longdouble


def reference(act: Any, derivative: bool, q1: Any, q2: Any, d: Any) -> tuple[Any, Any]:
    """(Σ_k c^k α_k(q1)α_k(q2), its deficit) per entry, c = 1 − δ, all terms, long double."""
    f, what = (act.dphi, "φ'") if derivative else (act.phi, "φ")
    q1, q2, d = np.broadcast_arrays(q1, q2, d)
    unique, inverse = np.unique(np.concatenate([q1.ravel(), q2.ravel()]), return_inverse=True)
    coef = act._coefficients(what, f, unique).astype(LD)
    a = coef[inverse[: q1.size]]
    b = coef[inverse[q1.size :]]
    dd = d.ravel().astype(LD)
    c = 1 - dd
    k = np.arange(coef.shape[1])
    power = c[:, None] ** k
    value = np.sum(power * a * b, axis=1)
    # 1 − c^k without cancellation: |c| = 1 − δ (c ≥ 0) or δ − 1 (c < 0)
    positive = (c[:, None] >= 0) | (k % 2 == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_abs = np.where(c >= 0, np.log1p(-np.minimum(dd, 1)), np.log1p(np.maximum(dd, 1) - 2))
        exponent = k * log_abs[:, None]
        gap = np.where(positive, -np.expm1(exponent), 1 + np.exp(exponent))
    gap[:, 0] = 0
    ta, tb = np.sum(a * a, axis=1), np.sum(b * b, axis=1)
    mismatch = 0.5 * np.sum((a - b) ** 2, axis=1) - 0.5 * (np.sqrt(ta) - np.sqrt(tb)) ** 2
    deficit = np.sum(a * b * gap, axis=1) + mismatch
    scale = np.sqrt(ta * tb)
    return (value.reshape(q1.shape), deficit.reshape(q1.shape)), scale.reshape(q1.shape)


def check(act: Any, derivative: bool, q1: Any, q2: Any, c: Any, d: Any) -> None:
    (value, deficit), scale = reference(act, derivative, q1, q2, d)
    got_value = act._pairs(derivative, q1, q2, c, d, False)[0]
    got_deficit = act._pairs(derivative, q1, q2, c, d, True)[1]
    assert np.all(np.abs(got_value - value.astype(float)) <= 1e-14 * scale)
    assert np.all(np.abs(got_deficit - deficit.astype(float)) <= 1e-12 * deficit + 1e-300)


def deficits(n: int, rng: np.random.Generator, symmetric: bool) -> np.ndarray:
    """δ spread over [0, 2], a tenth of the entries within 1e-12…1e-5 of c = ±1."""
    d = rng.uniform(0.0, 2.0, (n, n))
    edge = rng.random((n, n)) < 0.1
    near = 10.0 ** rng.uniform(-12, -5, (n, n))
    d = np.where(edge, np.where(rng.random((n, n)) < 0.7, near, 2.0 - near), d)
    if symmetric:
        d = np.triu(d) + np.triu(d, 1).T
        np.fill_diagonal(d, 0.0)
    return d


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "softplus"])
@pytest.mark.parametrize("derivative", [False, True])
def test_blocked_sums_match_every_term_in_long_double(name: str, derivative: bool) -> None:
    act = get_activation(name)
    rng = np.random.default_rng(7)
    n = 2 * mehler.BLOCK + 13  # full and partial blocks, segments starting mid-block
    q = rng.uniform(0.3, 2.5, n)
    q[::9] = q[0]  # entries of one variance: the full form without the norm mismatch
    d = deficits(n, rng, symmetric=True)
    check(act, derivative, q[:, None], q[None, :], 1.0 - d, d)  # symmetric
    m = n // 2
    check(act, derivative, q[:m, None], q[None, 5:], 1.0 - d[:m, 5:], d[:m, 5:])  # cross
    flat = rng.permutation(n * n)[:700]  # flat entries, runs of one row and single ones
    rows1 = np.sort(flat // n)
    rows2 = flat % n
    dflat = d[rows1, rows2]
    check(act, derivative, q[rows1], q[rows2], 1.0 - dflat, dflat)


def _normal(z: mp.mpf) -> mp.mpf:
    return mp.exp(-z * z / 2) / mp.sqrt(2 * mp.pi)


def mp_deficit(f: Any, q1: float, q2: float, delta: float) -> mp.mpf:
    """½√(V1V2)·E[A²], A = f(u)/√V1 − f(v)/√V2, by 17 unit panels × 10 Gauss–Legendre
    nodes per axis on [−8.5, 8.5]² (and V by mp.quad)."""
    x, w = np.polynomial.legendre.leggauss(10)
    nodes = [mp.mpf(float(e + 0.5 * (1 + xi))) for e in np.arange(-8.5, 8.5) for xi in x]
    panel_weights = list(w) * 17
    weights = [
        mp.mpf(float(0.5 * wi)) * _normal(z) for z, wi in zip(nodes, panel_weights, strict=True)
    ]
    r1, r2 = mp.sqrt(q1), mp.sqrt(q2)
    v1 = mp.quad(lambda z: f(r1 * z) ** 2 * _normal(z), [-mp.inf, mp.inf])
    v2 = mp.quad(lambda z: f(r2 * z) ** 2 * _normal(z), [-mp.inf, mp.inf])
    dm = mp.mpf(delta)
    c = 1 - dm
    s = mp.sqrt(dm * (2 - dm))
    total = mp.mpf(0)
    for z1, w1 in zip(nodes, weights, strict=True):
        left = f(r1 * z1) / mp.sqrt(v1)
        inner = mp.mpf(0)
        for z2, w2 in zip(nodes, weights, strict=True):
            gap = left - f(r2 * (c * z1 + s * z2)) / mp.sqrt(v2)
            inner += w2 * gap * gap
        total += w1 * inner
    return mp.sqrt(v1 * v2) * total / 2


@pytest.mark.parametrize(
    ("q1", "q2", "delta"),
    [(0.9, 0.9, 1e-7), (0.7, 1.3, 1e-6), (1.1, 0.6, 2.0 - 1e-6), (0.8, 1.9, 0.4)],
)
def test_tanh_deficits_against_mpmath(q1: float, q2: float, delta: float) -> None:
    act = get_activation("tanh")
    with mp.workdps(30):
        phi = mp_deficit(mp.tanh, q1, q2, delta)
        dphi = mp_deficit(lambda x: 1 - mp.tanh(x) ** 2, q1, q2, delta)
    got = act.correlation_deficit(q1, q2, delta)
    got_d = act.derivative_correlation_deficit(q1, q2, delta)
    assert abs(got - phi) <= 1e-10 * phi
    assert abs(got_d - dphi) <= 1e-10 * dphi


def test_deficits_read_delta_only() -> None:
    """With want_deficit the sums form c = 1 − δ per entry: the c passed is not read."""
    act = get_activation("tanh")
    rng = np.random.default_rng(3)
    n = mehler.BLOCK + 9
    q = rng.uniform(0.3, 2.5, n)
    d = deficits(n, rng, symmetric=True)
    want = act._pairs(False, q[:, None], q[None, :], 1.0 - d, d, True)[1]  # type: ignore[attr-defined]
    got = act._pairs(False, q[:, None], q[None, :], np.full_like(d, np.nan), d, True)[1]  # type: ignore[attr-defined]
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(act.correlation_deficit(q[:, None], q[None, :], d), want)
