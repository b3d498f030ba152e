"""sin and cos closed forms against independent mpmath references computed here.

References: 2-D Gauss–Hermite quadrature (48² nodes, Golub–Welsch at 40 digits) of
E[φ(u)φ(v)] and E[φ'(u)φ'(v)] for moderate variances, where it converges to ~1e-35; the
moment generating function e^{−(q1+q2)/2}·sinh/cosh(q12) at 50 digits (checked against that
quadrature in the first test) for the deficit forms at δ = 1e-20, 1e-8 and for large q; and
a plain mpmath recursion for the kernels at depth 50.
"""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest

from core.activations import get_activation
from core.kernels import compute_kernels
from core.network import Network
from tests.core.edges import assert_finite_at_the_edges
from tests.core.mp_reference import mp_kernel_layers, mp_sin

SIN, COS = get_activation("sin"), get_activation("cos")

# (q1, q2, c): small and moderate q, q1 ≠ q2, c near ±1
QUADRATURE_POINTS = [
    (1e-3, 1e-3, 0.7),
    (1e-3, 2.5e-3, -0.4),
    (0.4, 0.4, 1 - 1e-9),
    (0.4, 0.9, 1 - 1e-6),
    (1.3, 0.2, -(1 - 1e-7)),
    (2.0, 2.0, -1.0),
    (2.5, 1.1, 0.25),
]


@pytest.fixture(scope="module")
def hermite() -> tuple[list[mp.mpf], list[mp.mpf]]:
    """Gauss–Hermite nodes and weights for N(0, 1) (probabilists'), 48 points, 40 digits."""
    with mp.workdps(40):
        n = 48
        jacobi = mp.zeros(n)
        for k in range(1, n):
            jacobi[k - 1, k] = jacobi[k, k - 1] = mp.sqrt(k)
        nodes, vectors = mp.eigsy(jacobi)
        return [nodes[i] for i in range(n)], [vectors[0, i] ** 2 for i in range(n)]


def gaussian_product(rule, f, g, q1: float, q2: float, q12: float) -> mp.mpf:
    """E[f(u) g(v)], (u, v) ~ N(0, [[q1, q12], [q12, q2]]), by the 2-D product rule."""
    nodes, weights = rule
    with mp.workdps(40):
        q1_, q2_, q12_ = mp.mpf(q1), mp.mpf(q2), mp.mpf(q12)
        c = q12_ / mp.sqrt(q1_ * q2_)
        s = mp.sqrt(max(1 - c * c, 0))
        total = mp.mpf(0)
        for z1, w1 in zip(nodes, weights, strict=True):
            fu = f(mp.sqrt(q1_) * z1)
            inner = mp.fsum(
                w2 * g(mp.sqrt(q2_) * (c * z1 + s * z2))
                for z2, w2 in zip(nodes, weights, strict=True)
            )
            total += w1 * fu * inner
        return total


def relative_error(got: float, want: mp.mpf) -> float:
    """|got − want| / |want|; |got| where want is exactly 0 (cos at c = −1, q1 = q2)."""
    if want == 0:
        return abs(float(got))
    return float(abs(mp.mpf(float(got)) - want) / abs(want))


@pytest.mark.parametrize(("q1", "q2", "c"), QUADRATURE_POINTS)
def test_correlations_against_quadrature(hermite, q1, q2, c):
    q12 = c * np.sqrt(q1 * q2)
    sin_sin = gaussian_product(hermite, mp.sin, mp.sin, q1, q2, q12)
    cos_cos = gaussian_product(hermite, mp.cos, mp.cos, q1, q2, q12)
    checks = [
        (SIN.correlation(q1, q2, q12), sin_sin),
        (SIN.derivative_correlation(q1, q2, q12), cos_cos),
        (COS.correlation(q1, q2, q12), cos_cos),
        (COS.derivative_correlation(q1, q2, q12), sin_sin),  # φ' = −sin: the signs cancel
    ]
    for got, want in checks:
        assert relative_error(got, want) < 1e-12
    # the 50-digit moment generating function used below agrees with the quadrature
    with mp.workdps(40):
        m = (mp.mpf(q1) + mp.mpf(q2)) / 2
        assert abs(mp.exp(-m) * mp.sinh(mp.mpf(q12)) - sin_sin) < mp.mpf(10) ** -33
        assert abs(mp.exp(-m) * mp.cosh(mp.mpf(q12)) - cos_cos) < mp.mpf(10) ** -33


@pytest.mark.parametrize("q", [1e-6, 0.05, 0.8, 2.7])
def test_variances_against_quadrature(hermite, q):
    nodes, weights = hermite
    with mp.workdps(40):
        root = mp.sqrt(mp.mpf(q))
        sin2 = mp.fsum(w * mp.sin(root * z) ** 2 for z, w in zip(nodes, weights, strict=True))
        cos2 = mp.fsum(w * mp.cos(root * z) ** 2 for z, w in zip(nodes, weights, strict=True))
        # dV/dq = E[φ'² + φ φ''] (base.py): sin → cos² − sin², cos → sin² − cos²
        slope = cos2 - sin2
    assert relative_error(SIN.variance(q), sin2) < 1e-12
    assert relative_error(SIN.derivative_variance(q), cos2) < 1e-12
    assert relative_error(COS.variance(q), cos2) < 1e-12
    assert relative_error(COS.derivative_variance(q), sin2) < 1e-12
    assert relative_error(SIN.variance_slope(q), slope) < 1e-12
    assert relative_error(COS.variance_slope(q), -slope) < 1e-12


def mp_moments(q1: float, q2: float, q12: mp.mpf) -> tuple[mp.mpf, mp.mpf]:
    """(E[sin u sin v], E[cos u cos v]) by the moment generating function (caller's dps)."""
    m = (mp.mpf(q1) + mp.mpf(q2)) / 2
    return mp.exp(-m) * mp.sinh(q12), mp.exp(-m) * mp.cosh(q12)


def mp_deficits(q1: float, q2: float, delta: float) -> tuple[mp.mpf, mp.mpf]:
    """(√(V_sin1 V_sin2) − E[sin sin], √(V_cos1 V_cos2) − E[cos cos]) at 50 digits."""
    with mp.workdps(50):
        r = mp.sqrt(mp.mpf(q1) * mp.mpf(q2))
        sin_sin, cos_cos = mp_moments(q1, q2, r * (1 - mp.mpf(delta)))
        sin_v1, cos_v1 = mp_moments(q1, q1, mp.mpf(q1))
        sin_v2, cos_v2 = mp_moments(q2, q2, mp.mpf(q2))
        return mp.sqrt(sin_v1 * sin_v2) - sin_sin, mp.sqrt(cos_v1 * cos_v2) - cos_cos


# equal and mismatched variances, from tiny to large; the mismatch exponent takes its
# quadrature branch for |ln q1/q2| < 1 and the difference branch otherwise
DEFICIT_VARIANCES = [
    (1e-6, 1e-6),
    (0.3, 0.3),
    (0.3, 0.3 * (1 + 1e-9)),
    (0.7, 0.9),
    (1.5, 1.5 * (1 + 3e-5)),
    (0.2, 3.0),
    (6.0, 25.0),
    (40.0, 40.0),
    (120.0, 121.0),
]


@pytest.mark.parametrize(("q1", "q2"), DEFICIT_VARIANCES)
@pytest.mark.parametrize("delta", [1e-20, 1e-8, 0.4, 2.0])
def test_deficits_against_50_digit_reference(q1, q2, delta):
    sin_gap, cos_gap = mp_deficits(q1, q2, delta)
    assert relative_error(SIN.correlation_deficit(q1, q2, delta), sin_gap) < 1e-12
    assert relative_error(SIN.derivative_correlation_deficit(q1, q2, delta), cos_gap) < 1e-12
    assert relative_error(COS.correlation_deficit(q1, q2, delta), cos_gap) < 1e-12
    assert relative_error(COS.derivative_correlation_deficit(q1, q2, delta), sin_gap) < 1e-12


@pytest.mark.parametrize(("q1", "q2"), [(0.3, 0.3), (0.7, 0.9), (0.2, 2.5)])
def test_deficits_against_quadrature(hermite, q1, q2):
    q12 = 0.6 * np.sqrt(q1 * q2)
    sin_v1 = gaussian_product(hermite, mp.sin, mp.sin, q1, q1, q1)
    sin_v2 = gaussian_product(hermite, mp.sin, mp.sin, q2, q2, q2)
    cos_v1 = gaussian_product(hermite, mp.cos, mp.cos, q1, q1, q1)
    cos_v2 = gaussian_product(hermite, mp.cos, mp.cos, q2, q2, q2)
    with mp.workdps(40):
        sin_gap = mp.sqrt(sin_v1 * sin_v2) - gaussian_product(hermite, mp.sin, mp.sin, q1, q2, q12)
        cos_gap = mp.sqrt(cos_v1 * cos_v2) - gaussian_product(hermite, mp.cos, mp.cos, q1, q2, q12)
    assert relative_error(SIN.correlation_deficit(q1, q2, 0.4), sin_gap) < 1e-12
    assert relative_error(COS.correlation_deficit(q1, q2, 0.4), cos_gap) < 1e-12


@pytest.mark.parametrize(("q1", "q2"), [(0.3, 0.3), (0.7, 0.9), (6.0, 25.0)])
def test_small_deficit_slopes_are_the_price_derivatives(q1, q2):
    with mp.workdps(50):
        r = mp.sqrt(mp.mpf(q1) * mp.mpf(q2))
        sin_sin, cos_cos = mp_moments(q1, q2, r)
    a, b, p = SIN.small_deficit_slopes(q1, q2)
    assert p == 1.0
    assert relative_error(a, r * cos_cos) < 1e-13 and relative_error(b, r * sin_sin) < 1e-13
    a, b, p = COS.small_deficit_slopes(q1, q2)
    assert p == 1.0
    assert relative_error(a, r * sin_sin) < 1e-13 and relative_error(b, r * cos_cos) < 1e-13
    # and they are the slope of the deficit form at q1 = q2, δ = 1e-12
    if q1 == q2:
        for act in (SIN, COS):
            slope, _, _ = act.small_deficit_slopes(q1, q2)
            grown = act.correlation_deficit(q1, q2, 1e-12) / 1e-12
            assert abs(grown - slope) < 1e-11 * slope


def mp_sin_kernels(x: np.ndarray, w2: float, b2: float, depth: int):
    """Σ^L, Θ^L of a sin network by the plain recursion, every entry, at 60 digits."""
    with mp.workdps(60):
        sigma, theta = mp_kernel_layers(x, mp_sin, w2, b2, [depth])[depth]
        return (
            np.array([[float(v) for v in row] for row in sigma]),
            np.array([[float(v) for v in row] for row in theta]),
        )


@pytest.mark.parametrize(("w2", "b2"), [(0.8, 0.3), (1.6, 0.05), (3.0, 0.2)])
def test_sin_kernels_at_depth_50_against_mpmath_recursion(w2, b2):
    """Ordered (χ₁ < 1: c → 1, the deficit forms carry the answer), near-critical, chaotic."""
    x = np.random.default_rng(3).standard_normal((3, 4))
    x[2] *= 1.7
    result = compute_kernels(Network(SIN, w2, b2, 50), x, depths=[50])
    sigma, theta = mp_sin_kernels(x, w2, b2, 50)
    nngp = result.nngp[0] * 10.0 ** result.nngp_log10_scale[0]
    ntk = result.ntk[0] * 10.0 ** result.ntk_log10_scale[0]
    np.testing.assert_allclose(nngp, sigma, rtol=1e-10)
    # kernels are carried as deficits from √(K_aa K_bb) (core.kernels): an entry is accurate
    # to ~1e-16 of that scale, which in the chaotic case exceeds the off-diagonal by 1e10
    scale = np.sqrt(np.outer(np.diag(theta), np.diag(theta)))
    assert np.all(np.abs(ntk - theta) <= 1e-10 * np.abs(theta) + 1e-14 * scale)
    if w2 < 2.0:
        np.testing.assert_allclose(ntk, theta, rtol=1e-10)


def test_edges_are_finite_without_warnings():
    for act in (SIN, COS):
        assert_finite_at_the_edges(act)
