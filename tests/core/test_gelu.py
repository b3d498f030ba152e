"""gelu closed forms (core.activations.gelu) against independent mpmath references made here.

References: E[φ(u)φ(v)] and E[φ'(u)φ'(v)] as 1-D mpmath quadratures at 30 digits whose inner
Gaussian expectation is analytic (for v ~ N(μ, σ²), k = √(1 + σ²):
E[vΦ(v)] = μΦ(μ/k) + σ²ϕ(μ/k)/k and E[Φ(v) + vϕ(v)] = Φ(μ/k) + μϕ(μ/k)/k³), so they do
not use the closed forms; 1-D quadratures for V, W, dV/dq and the c = 1 slopes; the closed
forms evaluated in mpmath (checked against the quadratures in the first test) at 40 digits
plus |log10 δ| for the deficit forms; and a plain mpmath recursion for the kernels.
"""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest

from core.activations import get_activation, list_activations
from core.fixed_points import fixed_points
from core.kernels import compute_kernels
from core.network import Network
from tests.core.edges import assert_finite_at_the_edges
from tests.core.mp_reference import mp_kernel_layers

GELU = get_activation("gelu")


def phi(x: mp.mpf) -> mp.mpf:
    return x * mp.ncdf(x)


def dphi(x: mp.mpf) -> mp.mpf:
    return mp.ncdf(x) + x * mp.npdf(x)


def ddphi(x: mp.mpf) -> mp.mpf:
    return (2 - x * x) * mp.npdf(x)


def inner_phi(mu: mp.mpf, var: mp.mpf) -> mp.mpf:
    k = mp.sqrt(1 + var)
    return mu * mp.ncdf(mu / k) + var * mp.npdf(mu / k) / k


def inner_dphi(mu: mp.mpf, var: mp.mpf) -> mp.mpf:
    k = mp.sqrt(1 + var)
    return mp.ncdf(mu / k) + mu * mp.npdf(mu / k) / k**3


def quadrature(q1: float, q2: float, q12: float) -> tuple[mp.mpf, mp.mpf]:
    """(E[φ(u)φ(v)], E[φ'(u)φ'(v)]): v | u ~ N(βu, q2 − βq12), β = q12/q1, at 30 digits."""
    with mp.workdps(30):
        q1_, q2_, q12_ = mp.mpf(q1), mp.mpf(q2), mp.mpf(q12)
        beta = q12_ / q1_
        var = max(q2_ - beta * q12_, 0)
        root = mp.sqrt(q1_)

        def expect(f, inner):
            return mp.quad(
                lambda z: f(root * z) * inner(beta * root * z, var) * mp.npdf(z),
                [-mp.inf, 0, mp.inf],
            )

        return expect(phi, inner_phi), expect(dphi, inner_dphi)


def moment(f, q: float) -> mp.mpf:
    """E[f(√q z)] at 30 digits."""
    with mp.workdps(30):
        root = mp.sqrt(mp.mpf(q))
        return mp.quad(lambda z: f(root * z) * mp.npdf(z), [-mp.inf, 0, mp.inf])


def mp_gelu(q1: mp.mpf, q2: mp.mpf, t: mp.mpf) -> tuple[mp.mpf, mp.mpf]:
    """The closed forms (module doc of core.activations.gelu) at the caller's precision."""
    big_r2 = (1 + q1) * (1 + q2)
    det = big_r2 - t * t
    angle = mp.asin(t / mp.sqrt(big_r2)) / (2 * mp.pi)
    e_ff = (
        t / 4
        + t * angle
        + (q1 * q2 * big_r2 + t * t * (1 - q1 * q2)) / (2 * mp.pi * big_r2 * mp.sqrt(det))
    )
    e_dd = (
        mp.mpf(1) / 4
        + angle
        + t * (1 / (1 + q1) + 1 / (1 + q2) + 1 / det) / (2 * mp.pi * mp.sqrt(det))
    )
    return e_ff, e_dd


def relative_error(got: float | np.ndarray, want: mp.mpf) -> float:
    return float(abs(mp.mpf(float(got)) - want) / abs(want))


# (q1, q2, c): q from 1e-3 to 1e3, q1 ≠ q2, c at and near ±1
POINTS = [
    (1e-3, 1e-3, 0.7),
    (1e-3, 2.5e-3, -0.4),
    (0.4, 0.4, 1 - 1e-9),
    (0.4, 0.9, 1 - 1e-6),
    (1.3, 0.2, -(1 - 1e-7)),
    (2.0, 2.0, -1.0),
    (2.5, 1.1, 0.25),
    (3.0, 3.0, 1.0),
    (40.0, 7.0, 0.9),
    (1e3, 1e3, 1 - 1e-12),
    (1e3, 900.0, -0.999999),
    (1e3, 1e-3, 0.5),
]


@pytest.mark.parametrize(("q1", "q2", "c"), POINTS)
def test_correlations_against_quadrature(q1, q2, c):
    q12 = c * np.sqrt(q1 * q2)
    e_ff, e_dd = quadrature(q1, q2, q12)
    assert relative_error(GELU.correlation(q1, q2, q12), e_ff) < 1e-12
    assert relative_error(GELU.derivative_correlation(q1, q2, q12), e_dd) < 1e-12
    # the mpmath closed forms used below agree with the quadrature
    with mp.workdps(30):
        closed = mp_gelu(mp.mpf(q1), mp.mpf(q2), mp.mpf(q12))
    assert abs(closed[0] - e_ff) < 1e-25 * abs(e_ff)
    assert abs(closed[1] - e_dd) < 1e-25 * abs(e_dd)


@pytest.mark.parametrize("q", [1e-3, 0.05, 0.8, 2.7, 60.0, 1e3, 1e6])
def test_variances_against_quadrature(q):
    v = moment(lambda x: phi(x) ** 2, q)
    w = moment(lambda x: dphi(x) ** 2, q)
    slope = moment(lambda x: dphi(x) ** 2 + phi(x) * ddphi(x), q)  # dV/dq = E[φ'² + φφ'']
    assert relative_error(GELU.variance(q), v) < 1e-13
    assert relative_error(GELU.derivative_variance(q), w) < 1e-13
    assert relative_error(GELU.variance_slope(q), slope) < 1e-13


def mp_deficits(q1: float, q2: float, delta: float) -> tuple[mp.mpf, mp.mpf]:
    """(√(V1V2) − E[φφ], √(W1W2) − E[φ'φ']) from the closed forms, δ resolved to 40 digits."""
    with mp.workdps(40 + max(0, int(-mp.log10(delta)))):
        a, b = mp.mpf(q1), mp.mpf(q2)
        e_ff, e_dd = mp_gelu(a, b, mp.sqrt(a * b) * (1 - mp.mpf(delta)))
        v1, w1 = mp_gelu(a, a, a)
        v2, w2 = mp_gelu(b, b, b)
        return mp.sqrt(v1 * v2) - e_ff, mp.sqrt(w1 * w2) - e_dd


# equal, nearly equal and mismatched variances from 1e-3 to 1e6; the norm mismatch is a
# Gauss–Legendre sum up to q1/q2 = e^64 and a difference of closed forms beyond (and where
# the angular part dominates: δ = 1, 2)
DEFICIT_VARIANCES = [
    (1e-3, 1e-3),
    (1e-3, 1e-3 * (1 + 1e-9)),
    (0.3, 0.3),
    (0.7, 0.9),
    (1.5, 1.5 * (1 + 3e-5)),
    (0.2, 3.0),
    (6.0, 25.0),
    (40.0, 40.0),
    (120.0, 121.0),
    (1e3, 1e3 * (1 + 1e-7)),
    (1e3, 2e-3),
    (1e3, 1e11),
    (1e-3, 1e30),
    (1e6, 1.3e6),
]


@pytest.mark.parametrize(("q1", "q2"), DEFICIT_VARIANCES)
@pytest.mark.parametrize("delta", [1e-200, 1e-30, 1e-8, 1e-3, 0.1, 1.0, 2.0])
def test_deficits_against_high_precision_closed_forms(q1, q2, delta):
    gap, derivative_gap = mp_deficits(q1, q2, delta)
    assert relative_error(GELU.correlation_deficit(q1, q2, delta), gap) < 1e-12
    assert (
        relative_error(GELU.derivative_correlation_deficit(q1, q2, delta), derivative_gap) < 1e-12
    )


@pytest.mark.parametrize(("q1", "q2"), [(0.3, 0.3), (0.7, 0.9), (0.2, 2.5), (50.0, 80.0)])
def test_deficits_against_quadrature(q1, q2):
    delta = 0.4
    e_ff, e_dd = quadrature(q1, q2, (1 - delta) * np.sqrt(q1 * q2))
    with mp.workdps(30):
        gap = mp.sqrt(moment(lambda x: phi(x) ** 2, q1) * moment(lambda x: phi(x) ** 2, q2)) - e_ff
        derivative_gap = (
            mp.sqrt(moment(lambda x: dphi(x) ** 2, q1) * moment(lambda x: dphi(x) ** 2, q2)) - e_dd
        )
    assert relative_error(GELU.correlation_deficit(q1, q2, delta), gap) < 1e-12
    assert (
        relative_error(GELU.derivative_correlation_deficit(q1, q2, delta), derivative_gap) < 1e-12
    )


@pytest.mark.parametrize(
    ("q1", "q2"), [(1e-3, 1e-3), (0.3, 0.3), (0.7, 0.9), (6.0, 25.0), (1e3, 1e3)]
)
def test_small_deficit_slopes_are_the_price_derivatives(q1, q2):
    # at c = 1, v = √(q2/q1)·u: a = √(q1q2) E[φ'(u)φ'(v)], b = √(q1q2) E[φ''(u)φ''(v)]
    with mp.workdps(30):
        r1, r2 = mp.sqrt(mp.mpf(q1)), mp.sqrt(mp.mpf(q2))

        def c1(f):
            return (
                r1
                * r2
                * mp.quad(lambda z: f(r1 * z) * f(r2 * z) * mp.npdf(z), [-mp.inf, 0, mp.inf])
            )

        a_ref, b_ref = c1(dphi), c1(ddphi)
    a, b, p = GELU.small_deficit_slopes(q1, q2)
    assert p == 1.0
    assert relative_error(a, a_ref) < 1e-13 and relative_error(b, b_ref) < 1e-13
    if q1 == q2:  # the slopes of the deficit forms at δ = 1e-20
        grown = GELU.correlation_deficit(q1, q2, 1e-20) / 1e-20
        assert abs(grown - a) < 1e-12 * a
        grown = GELU.derivative_correlation_deficit(q1, q2, 1e-20) / 1e-20
        assert abs(grown - b) < 1e-12 * b


def mp_gelu_kernels(x: np.ndarray, w2: float, b2: float, depths: list[int]):
    """{depth: (Σ, Θ)} of a gelu network by the plain recursion, every entry, at 60 digits."""
    with mp.workdps(60):
        layers = mp_kernel_layers(x, mp_gelu, w2, b2, depths)
        return {
            depth: tuple(np.array([[float(v) for v in row] for row in k]) for k in kernels)
            for depth, kernels in layers.items()
        }


@pytest.mark.parametrize(("w2", "b2"), [(0.8, 0.3), (1.7, 0.05), (3.0, 0.2)])
def test_kernels_at_depths_3_and_50_against_mpmath_recursion(w2, b2):
    """Ordered (c → 1: the deficit forms carry the answer), near-critical, chaotic."""
    x = np.random.default_rng(5).standard_normal((3, 4))
    x[2] *= 1.7
    result = compute_kernels(Network(GELU, w2, b2, 50), x, depths=[3, 50])
    reference = mp_gelu_kernels(x, w2, b2, [3, 50])
    assert result.nngp is not None and result.ntk is not None
    for i, depth in enumerate([3, 50]):
        sigma, theta = reference[depth]
        nngp = result.nngp[i] * 10.0 ** result.nngp_log10_scale[i]
        ntk = result.ntk[i] * 10.0 ** result.ntk_log10_scale[i]
        np.testing.assert_allclose(nngp, sigma, rtol=1e-10)
        np.testing.assert_allclose(ntk, theta, rtol=1e-10)
        # the Cauchy–Schwarz deficits, where the ordered phase keeps its information
        if depth == 50 and w2 < 1.0:
            gap = np.sqrt(np.outer(np.diag(sigma), np.diag(sigma))) - sigma
            got = np.sqrt(np.outer(np.diag(nngp), np.diag(nngp))) - nngp
            off = ~np.eye(3, dtype=bool)
            assert np.all(np.abs(got - gap)[off] <= 1e-6 * gap[off])


def test_fixed_points_sit_on_the_closed_form_length_map():
    points = fixed_points(GELU, 1.5, 0.1)
    assert points.q_star is not None and points.chi_1 is not None
    q = points.q_star
    assert abs(1.5 * GELU.variance(q) + 0.1 - q) < 1e-12 * q
    assert abs(points.chi_1 - 1.5 * GELU.derivative_variance(q)) < 1e-12


def test_registry_lists_gelu_as_closed_form():
    info = {entry.name: entry for entry in list_activations()}["gelu"]
    assert info.closed_form and info.parameters == []
    assert GELU.closed_form and GELU.quadrature == "closed form"


def test_edges_are_finite_without_warnings():
    assert_finite_at_the_edges(GELU)
