"""Fixed points of MATH.md §3 against closed forms and mpmath references computed here."""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest

from core.activations import get_activation
from core.correlation_map import correlation_map
from core.errors import InvalidInputError, NotDefinedError
from core.fixed_points import CRITICAL_TOLERANCE, fixed_points
from core.phase_diagram import critical_line

RELU = get_activation("relu")
ERF = get_activation("erf")


def tanh():
    return get_activation("tanh")


# --- mpmath references (independent of core.activations) --------------------------------

DPS = 30


def _gauss(g):
    """E_z[g(z)], z ~ N(0, 1), by mpmath quadrature."""
    return mp.quad(lambda z: g(z) * mp.exp(-z * z / 2), [-mp.inf, 0, mp.inf]) / mp.sqrt(2 * mp.pi)


def tanh_variance(q):
    return _gauss(lambda z: mp.tanh(mp.sqrt(q) * z) ** 2)


def tanh_derivative_variance(q):
    return _gauss(lambda z: mp.sech(mp.sqrt(q) * z) ** 4)


def erf_variance(q):
    return 2 / mp.pi * mp.asin(2 * q / (1 + 2 * q))


def erf_derivative_variance(q):
    return 4 / mp.pi / mp.sqrt(1 + 4 * q)


def mp_q_star(variance, sigma_w2, sigma_b2, guess):
    """The length map's fixed point by mpmath.findroot at DPS digits."""
    with mp.workdps(DPS):
        w, b = mp.mpf(sigma_w2), mp.mpf(sigma_b2)
        return mp.findroot(lambda q: w * variance(q) + b - q, mp.mpf(guess))


def hermite_weights(g, q, n_max, parity):
    """{n: E[g(√q z) He_n(z)]² / n!} for n ≤ n_max of g's parity (0 even, 1 odd): by
    Mehler's formula E[g(u) g(v)] = Σ_n weight_n cⁿ for (u, v) ~ N(0, q[[1, c], [c, 1]])."""

    def he(n, x):
        return mp.hermite(n, x / mp.sqrt(2)) / mp.mpf(2) ** (mp.mpf(n) / 2)

    root = mp.sqrt(q)
    return {
        n: _gauss(lambda z, n=n: g(root * z) * he(n, z)) ** 2 / mp.factorial(n)
        for n in range(parity, n_max + 1, 2)
    }


def rel(a: float, b) -> float:
    return abs(a - float(b)) / abs(float(b))


# --- relu: everything in closed form -----------------------------------------------------


@pytest.mark.parametrize(
    ("sigma_w2", "sigma_b2"), [(0.5, 0.1), (1.5, 0.05), (1.99, 2.0), (1.0, 3.0)]
)
def test_relu_matches_closed_forms(sigma_w2, sigma_b2):
    fp = fixed_points(RELU, sigma_w2, sigma_b2)
    q_star = sigma_b2 / (1 - sigma_w2 / 2)
    chi_1 = sigma_w2 / 2
    assert fp.q_star == pytest.approx(q_star, rel=1e-13)
    assert fp.chi_1 == pytest.approx(chi_1, rel=1e-15)
    assert fp.phase == "ordered"
    assert fp.c_star == 1.0 and fp.chi_c_star == pytest.approx(chi_1, rel=1e-15)
    assert fp.xi_1 == pytest.approx(-1 / math.log(chi_1), rel=1e-14)
    assert fp.xi_c_star == fp.xi_1
    assert fp.xi_q == pytest.approx(-1 / math.log(chi_1), rel=1e-14)  # L'(q) = σ_w²/2
    assert fp.p_star == pytest.approx(q_star / (1 - chi_1), rel=1e-13)
    assert fp.p_ab_star is None
    assert fp.q_convergence is not None and fp.q_convergence.converged
    assert fp.q_convergence.residual <= 1e-15 * q_star


@pytest.mark.parametrize(
    ("sigma_w2", "phase"), [(2.0, "critical"), (2.5, "chaotic"), (8.0, "chaotic")]
)
def test_relu_without_fixed_point_says_so(sigma_w2, phase):
    fp = fixed_points(RELU, sigma_w2, 0.1)
    assert fp.q_star is None
    assert any("q* does not exist" in n and "grows without bound" in n for n in fp.notes)
    assert fp.q_convergence is not None and not fp.q_convergence.converged
    # χ₁ = σ_w²/2 does not need q* for a positively homogeneous φ.
    assert fp.chi_1 == pytest.approx(sigma_w2 / 2, rel=1e-15)
    assert fp.phase == phase
    for name in ("c_star", "chi_c_star", "xi_1", "xi_c_star", "xi_q", "p_star", "p_ab_star"):
        assert getattr(fp, name) is None, name
    assert any("c* and χ_c* are not defined without q*" in n for n in fp.notes)


def test_relu_identity_length_map_has_no_single_q_star():
    fp = fixed_points(RELU, 2.0, 0.0)
    assert fp.q_star is None and fp.phase == "critical"
    assert any("every q is a fixed point" in n for n in fp.notes)


def test_relu_without_bias_contracts_to_zero():
    fp = fixed_points(RELU, 1.2, 0.0)
    assert fp.q_star == 0.0 and fp.chi_1 == pytest.approx(0.6, rel=1e-15)
    assert fp.p_star == 0.0 and fp.c_star is None
    assert any("q* = 0" in n for n in fp.notes)
    assert any("not defined at q* = 0" in n for n in fp.notes)


@pytest.mark.parametrize(
    ("sigma_w2", "sigma_b2", "q_star", "phase"),
    [
        (0.5, 0.2, 0.2 / 0.5, "ordered"),
        (1.0, 0.2, None, "critical"),  # q^l grows linearly
        (1.0, 0.0, None, "critical"),  # every q is a fixed point
        (0.7, 0.0, 0.0, "ordered"),
        (1.5, 0.0, None, "chaotic"),
    ],
)
def test_identity_edges(sigma_w2, sigma_b2, q_star, phase):
    fp = fixed_points(get_activation("identity"), sigma_w2, sigma_b2)
    assert fp.phase == phase
    if q_star is None:
        assert fp.q_star is None
    else:
        assert fp.q_star == pytest.approx(q_star, rel=1e-14, abs=0.0)
    assert fp.chi_1 == pytest.approx(sigma_w2, rel=1e-15)


# --- smooth odd activations --------------------------------------------------------------


def test_erf_critical_at_pi_over_4_without_bias():
    at = fixed_points(ERF, math.pi / 4, 0.0)
    assert at.phase == "critical" and at.q_star == 0.0
    assert at.xi_1 is None and any("infinite on the critical line" in n for n in at.notes)
    below = fixed_points(ERF, math.pi / 4 * (1 - 1e-6), 0.0)
    assert below.phase == "ordered" and below.q_star == 0.0
    assert below.chi_1 == pytest.approx((1 - 1e-6), rel=1e-14)  # σ_w² φ'(0)², φ'(0)² = 4/π
    # Above it χ₁ − 1 grows only like (σ_w² − π/4)² at σ_b² = 0 (χ₁ = W(q*)/(V(q*)/q*)
    # with q* ∝ σ_w² − π/4), so 1e-6 above would still be critical to 1e-12.
    above = fixed_points(ERF, math.pi / 4 * (1 + 1e-3), 0.0)
    assert above.phase == "chaotic" and above.q_star > 0.0 and above.chi_1 > 1.0
    assert fixed_points(ERF, math.pi / 4 * (1 + 1e-6), 0.0).phase == "critical"


def test_tanh_critical_at_one_without_bias():
    act = tanh()
    at = fixed_points(act, 1.0, 0.0)
    assert at.phase == "critical" and at.q_star == 0.0
    assert abs(at.chi_1 - 1.0) <= CRITICAL_TOLERANCE
    assert fixed_points(act, 0.99, 0.0).phase == "ordered"
    above = fixed_points(act, 1.01, 0.0)
    assert above.phase == "chaotic" and above.q_star > 0.0


@pytest.mark.parametrize("sigma_w2", [1.5, 3.0, 10.0])
def test_odd_activation_chaotic_without_bias_has_c_star_zero(sigma_w2):
    fp = fixed_points(ERF, sigma_w2, 0.0)
    assert fp.phase == "chaotic"
    assert abs(fp.c_star) <= 1e-14
    # χ_c* = σ_w² E[φ'(u)]E[φ'(v)] at c = 0, with E[erf'(√q z)] = (2/√π)/√(1 + 2q).
    q = fp.q_star
    assert fp.chi_c_star == pytest.approx(sigma_w2 * 4 / math.pi / (1 + 2 * q), rel=1e-13)
    assert fp.p_ab_star == pytest.approx(q * fp.c_star / (1 - fp.chi_c_star), abs=1e-14)


def test_tanh_chaotic_without_bias_has_c_star_zero():
    fp = fixed_points(tanh(), 2.0, 0.0)
    assert fp.phase == "chaotic" and abs(fp.c_star) <= 1e-13


@pytest.mark.parametrize(
    ("sigma_w2", "sigma_b2"), [(0.5, 0.3), (1.3, 0.05), (2.5, 0.1), (4.0, 1e-3)]
)
def test_erf_q_star_and_chi_1_against_mpmath(sigma_w2, sigma_b2):
    fp = fixed_points(ERF, sigma_w2, sigma_b2)
    with mp.workdps(DPS):
        q = mp_q_star(erf_variance, sigma_w2, sigma_b2, fp.q_star)
        chi_1 = sigma_w2 * erf_derivative_variance(q)
    assert rel(fp.q_star, q) <= 1e-13
    assert rel(fp.chi_1, chi_1) <= 1e-13


@pytest.mark.parametrize(("sigma_w2", "sigma_b2"), [(0.8, 0.2), (1.5, 0.05), (3.0, 0.5)])
def test_tanh_q_star_and_chi_1_against_mpmath(sigma_w2, sigma_b2):
    fp = fixed_points(tanh(), sigma_w2, sigma_b2)
    with mp.workdps(DPS):
        q = mp_q_star(tanh_variance, sigma_w2, sigma_b2, fp.q_star)
        chi_1 = sigma_w2 * tanh_derivative_variance(q)
    assert rel(fp.q_star, q) <= 1e-10
    assert rel(fp.chi_1, chi_1) <= 1e-10


@pytest.mark.parametrize(("sigma_w2", "sigma_b2"), [(3.0, 0.2), (1.2, 0.01), (8.0, 2.0)])
def test_erf_chaotic_c_star_and_chi_c_star_against_mpmath(sigma_w2, sigma_b2):
    fp = fixed_points(ERF, sigma_w2, sigma_b2)
    assert fp.phase == "chaotic"
    with mp.workdps(DPS):
        w, b = mp.mpf(sigma_w2), mp.mpf(sigma_b2)
        q = mp_q_star(erf_variance, sigma_w2, sigma_b2, fp.q_star)

        def f(c):  # MATH.md §2 closed form of E[erf(u) erf(v)]
            return (w * 2 / mp.pi * mp.asin(2 * q * c / (1 + 2 * q)) + b) / q

        c_star = mp.findroot(lambda c: f(c) - c, mp.mpf(fp.c_star))
        chi_c_star = w * 4 / mp.pi / mp.sqrt((1 + 2 * q) ** 2 - 4 * q * q * c_star**2)
    assert c_star < 1 and abs(fp.c_star - float(c_star)) <= 1e-12
    assert rel(fp.chi_c_star, chi_c_star) <= 1e-12
    assert 0 < fp.chi_c_star < 1  # stable
    assert fp.xi_c_star == pytest.approx(-1 / math.log(fp.chi_c_star), rel=1e-14)
    assert fp.p_ab_star == pytest.approx(fp.q_star * fp.c_star / (1 - fp.chi_c_star), rel=1e-14)
    assert fp.p_star is None and fp.xi_1 is None


def test_erf_near_critical_c_star_close_to_one():
    """Just inside the chaotic phase c* is within ~1e-6 of 1; the deficit form resolves it."""
    sigma_b2 = 0.1
    sigma_w2 = float(critical_line(ERF, np.array([sigma_b2]))[0]) * (1 + 1e-6)
    fp = fixed_points(ERF, sigma_w2, sigma_b2)
    assert fp.phase == "chaotic" and 0.0 < 1.0 - fp.c_star < 1e-4
    with mp.workdps(DPS):
        w, b = mp.mpf(sigma_w2), mp.mpf(sigma_b2)
        q = mp_q_star(erf_variance, sigma_w2, sigma_b2, fp.q_star)

        def deficit_map(d):  # 1 − f(1 − d)
            return 1 - (w * 2 / mp.pi * mp.asin(2 * q * (1 - d) / (1 + 2 * q)) + b) / q

        delta = mp.findroot(lambda d: deficit_map(d) - d, mp.mpf(1 - fp.c_star))
    assert rel(1 - fp.c_star, delta) <= 1e-8


def test_tanh_chaotic_c_star_and_chi_c_star_against_mpmath():
    """Mehler's formula: E[g(u)g(v)] = Σ_n E[g(√q z)He_n(z)]²/n! cⁿ, each term a 1-D quad."""
    sigma_w2, sigma_b2 = 4.0, 0.05
    fp = fixed_points(tanh(), sigma_w2, sigma_b2)
    assert fp.phase == "chaotic" and 0.0 < fp.c_star < 0.2
    n_max = 19  # c*^20 < 1e-15
    with mp.workdps(18):
        q = mp_q_star(tanh_variance, sigma_w2, sigma_b2, fp.q_star)
        c = mp.mpf(fp.c_star)
        values = hermite_weights(mp.tanh, q, n_max, parity=1)
        slopes = hermite_weights(lambda x: mp.sech(x) ** 2, q, n_max, parity=0)
        f_at_c = (sigma_w2 * sum(v * c**n for n, v in values.items()) + sigma_b2) / q
        chi_c_star = sigma_w2 * sum(s * c**n for n, s in slopes.items())
    assert abs(float(f_at_c) - fp.c_star) <= 1e-12  # c* is a fixed point
    assert rel(fp.chi_c_star, chi_c_star) <= 1e-10
    assert 0 < fp.chi_c_star < 1


@pytest.mark.parametrize(("act", "sigma_w2", "sigma_b2"), [("erf", 0.9, 0.1), ("tanh", 1.1, 0.3)])
def test_ordered_c_star_is_one(act, sigma_w2, sigma_b2):
    fp = fixed_points(get_activation(act), sigma_w2, sigma_b2)
    assert fp.phase == "ordered"
    assert fp.c_star == 1.0 and fp.chi_c_star == fp.chi_1
    assert fp.c_convergence is not None and fp.c_convergence.residual <= 1e-15
    assert fp.p_star == pytest.approx(fp.q_star / (1 - fp.chi_1), rel=1e-15)
    assert fp.p_ab_star is None and any("p*_ab exists only" in n for n in fp.notes)


# --- the correlation map -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("act", "sigma_w2", "sigma_b2"),
    [
        ("erf", 0.9, 0.1),
        ("erf", 3.0, 0.2),
        ("relu", 1.5, 0.1),
        ("tanh", 2.0, 0.1),
    ],
)
def test_correlation_map_fixes_one_with_slope_chi_1(act, sigma_w2, sigma_b2):
    activation = get_activation(act)
    fp = fixed_points(activation, sigma_w2, sigma_b2)
    c = np.linspace(-1.0, 1.0, 41)
    cmap = correlation_map(activation, sigma_w2, sigma_b2, c)
    assert abs(cmap.f[-1] - 1.0) <= 1e-14
    assert cmap.f_prime[-1] == pytest.approx(fp.chi_1, rel=1e-12)
    # f' against a centred difference of f (interior points; f is smooth there)
    h = 1e-5
    inner = np.linspace(-0.9, 0.9, 7)
    up = correlation_map(activation, sigma_w2, sigma_b2, inner + h).f
    down = correlation_map(activation, sigma_w2, sigma_b2, inner - h).f
    slope = correlation_map(activation, sigma_w2, sigma_b2, inner).f_prime
    np.testing.assert_allclose((up - down) / (2 * h), slope, rtol=1e-8, atol=1e-9)


def test_chaotic_c_star_is_where_the_map_goes():
    """Iterating c ↦ f(c) from near 1 lands on c*, and f(c*) = c*."""
    fp = fixed_points(ERF, 3.0, 0.2)
    q, c = fp.q_star, 0.999
    for _ in range(400):
        c = (3.0 * float(ERF.correlation(q, q, q * c)) + 0.2) / q
    assert abs(c - fp.c_star) <= 1e-12
    at = correlation_map(ERF, 3.0, 0.2, np.array([fp.c_star]))
    assert abs(at.f[0] - fp.c_star) <= 1e-14 and at.c_star == fp.c_star


def test_correlation_map_needs_q_star():
    with pytest.raises(NotDefinedError, match="q\\* does not exist"):
        correlation_map(RELU, 2.5, 0.1, np.array([0.5]))
    with pytest.raises(NotDefinedError, match="q\\* = 0"):
        correlation_map(ERF, 0.5, 0.0, np.array([0.5]))
    with pytest.raises(InvalidInputError) as err:
        correlation_map(ERF, 0.5, 0.1, np.array([1.5]))
    assert err.value.field == "c"


# --- contract ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sigma_w2", "sigma_b2", "field"),
    [
        (0.0, 0.1, "sigma_w2"),
        (-1.0, 0.1, "sigma_w2"),
        (math.nan, 0.1, "sigma_w2"),
        (math.inf, 0.1, "sigma_w2"),
        (1.0, -0.1, "sigma_b2"),
        (1.0, math.nan, "sigma_b2"),
        (1.0, math.inf, "sigma_b2"),
        (1e101, 0.0, "sigma_w2"),
        ("x", 0.0, "sigma_w2"),
    ],
)
def test_invalid_input_names_the_field(sigma_w2, sigma_b2, field):
    with pytest.raises(InvalidInputError) as err:
        fixed_points(ERF, sigma_w2, sigma_b2)
    assert err.value.field == field


def test_to_dict_has_the_api_fields_and_nothing_non_finite():
    expected = {
        "q_star",
        "chi_1",
        "c_star",
        "chi_c_star",
        "xi_1",
        "xi_c_star",
        "xi_q",
        "phase",
        "p_star",
        "p_ab_star",
        "notes",
        "convergence",
    }
    for act, sigma_w2, sigma_b2 in [("erf", 3.0, 0.2), ("relu", 3.0, 0.2), ("erf", 0.5, 0.0)]:
        out = fixed_points(get_activation(act), sigma_w2, sigma_b2).to_dict()
        assert set(out) == expected
        assert set(out["convergence"]) == {"q_star", "c_star"}
        for key, value in out.items():
            if isinstance(value, float):
                assert math.isfinite(value), key


def test_tanh_c_star_is_resolved_where_the_series_needs_hundreds_of_terms():
    """tanh at σ_w² = 10: q* ≈ 7.3 needs ~800 Hermite terms (the series refused it before the
    per-variance grids, and c* was left out). q* against mpmath; c* must solve the correlation
    map's fixed-point equation c = (σ_w² E[φ(u)φ(v)] + σ_b²)/q* (the map itself is checked
    against mpmath in tests/core/test_numerical_large_q.py)."""
    act = tanh()
    fp = fixed_points(act, 10.0, 0.1)
    assert fp.phase == "chaotic" and fp.q_star is not None and fp.c_star is not None
    assert fp.c_convergence is not None and fp.c_convergence.converged
    assert fp.q_star == pytest.approx(float(mp_q_star(tanh_variance, 10.0, 0.1, 7.3)), rel=1e-12)
    q = fp.q_star
    mapped = (10.0 * float(act.correlation(q, q, fp.c_star * q)) + 0.1) / q
    assert abs(mapped - fp.c_star) <= 1e-12
    assert 0.0 < fp.c_star < 0.2
