"""tanh and sigmoid above the Mehler series' reach (core/activations/large_variance.py).

References are computed here at 30 digits with mpmath: one-dimensional Gaussian integrals
by mp.quad; two-dimensional ones by a fixed tensor Gauss–Legendre rule (16 nodes on panels
of width 2, error < 1e-17 for integrands analytic within π/2 of the real axis) over the
square where the localised factors live, with tanh = erf(κx) + r(x), κ = √π/2, and the
closed forms E[erf(κu) erf(κv)] = (2/π) arcsin(2κ²q12/√((1+2κ²q1)(1+2κ²q2))) and
E[erf(κu) | v] = erf(κ a v/√(1 + 2κ²σ²)). Deficits at δ ≤ 1e-30 are checked against their
leading term q·E[φ'(u)²]·δ (Price; the next term is O(qδ) smaller). Tolerance: 1e-10
relative, the issue's bound.
"""

from __future__ import annotations

import warnings

import mpmath as mp
import numpy as np
import pytest

from core.activations import get_activation

TOL = 1e-10
KAPPA = mp.sqrt(mp.pi) / 2


def _normal(q):
    return lambda x: mp.exp(-x * x / (2 * q)) / mp.sqrt(2 * mp.pi * q)


def _expect(f, q):
    """E[f(u)], u ~ N(0, q), by mp.quad with breakpoints at f's features and the Gaussian's."""
    root = mp.sqrt(q)
    points = sorted({-14 * root, -20, -5, 0, 5, 20, 14 * root})
    points = [p for p in points if -14 * root <= p <= 14 * root]
    density = _normal(q)
    return mp.quad(lambda x: f(x) * density(x), points)


def _sech2(x):
    return mp.sech(x) ** 2


def _rest(x):
    return mp.tanh(x) - mp.erf(KAPPA * x)


def _panel_rule(half_width=20, width=2, degree=16):
    nodes, weights = np.polynomial.legendre.leggauss(degree)
    xs, ws = [], []
    for left in range(-half_width, half_width, width):
        for t, w in zip(nodes, weights, strict=True):
            xs.append(mp.mpf(left) + mp.mpf(width) * (1 + mp.mpf(t)) / 2)
            ws.append(mp.mpf(width) * mp.mpf(w) / 2)
    return xs, ws


def _pair(f, g, q1, q2, q12):
    """E[f(u) g(v)] for f, g below 1e-17 beyond |x| = 20: tensor Gauss–Legendre."""
    xs, ws = _panel_rule()
    det = q1 * q2 - q12 * q12
    norm = 1 / (2 * mp.pi * mp.sqrt(det))
    fx = [w * f(x) for x, w in zip(xs, ws, strict=True)]
    gy = [w * g(y) for y, w in zip(xs, ws, strict=True)]
    total = mp.mpf(0)
    for x, a in zip(xs, fx, strict=True):
        if abs(a) < mp.mpf(10) ** -40:
            continue
        row = mp.fsum(
            b * mp.exp(-(q2 * x * x - 2 * q12 * x * y + q1 * y * y) / (2 * det))
            for y, b in zip(xs, gy, strict=True)
        )
        total += a * row
    return total * norm


def _tanh_tanh(q1, q2, q12):
    k2 = 2 * KAPPA**2
    closed = 2 / mp.pi * mp.asin(k2 * q12 / mp.sqrt((1 + k2 * q1) * (1 + k2 * q2)))

    def cross(qa, qb, qab):  # E[r(u) erf(κv)], u ~ N(0, qa)
        a = qab / qa
        var = qb - qab * qab / qa
        scale = KAPPA * a / mp.sqrt(1 + k2 * var)
        return _expect(lambda x: _rest(x) * mp.erf(scale * x), qa)

    return closed + cross(q1, q2, q12) + cross(q2, q1, q12) + _pair(_rest, _rest, q1, q2, q12)


def _tanh_moments(q):
    v = 1 - _expect(_sech2, q)
    w = _expect(lambda x: _sech2(x) ** 2, q)
    return v, w


def _relative(got, want):
    return abs(mp.mpf(float(got)) - want) / abs(want)


@pytest.mark.parametrize("q", [30.0, 1e3, 1e6, 1e12])
def test_tanh_moments_against_mpmath(q):
    act = get_activation("tanh")
    with mp.workdps(30):
        v, w = _tanh_moments(mp.mpf(q))
        dv = _expect(lambda x: 3 * _sech2(x) ** 2 - 2 * _sech2(x), mp.mpf(q))
    assert _relative(act.variance(q), v) < TOL
    assert _relative(act.derivative_variance(q), w) < TOL
    assert _relative(act.variance_slope(q), dv) < TOL


@pytest.mark.parametrize(("q1", "q2", "delta"), [(400.0, 400.0, 0.3), (1e4, 8e3, 1.3)])
def test_tanh_values_and_deficits_against_mpmath(q1, q2, delta):
    act = get_activation("tanh")
    with mp.workdps(30):
        a, b, d = mp.mpf(q1), mp.mpf(q2), mp.mpf(delta)
        q12 = mp.sqrt(a * b) * (1 - d)
        value = _tanh_tanh(a, b, q12)
        dvalue = _pair(_sech2, _sech2, a, b, q12)
        (v1, w1), (v2, w2) = _tanh_moments(a), _tanh_moments(b)
        gap, dgap = mp.sqrt(v1 * v2) - value, mp.sqrt(w1 * w2) - dvalue
    q12f = float(q12)
    assert _relative(act.correlation(q1, q2, q12f), value) < TOL
    assert _relative(act.derivative_correlation(q1, q2, q12f), dvalue) < TOL
    assert _relative(act.correlation_deficit(q1, q2, delta), gap) < TOL
    assert _relative(act.derivative_correlation_deficit(q1, q2, delta), dgap) < TOL


@pytest.mark.parametrize("q", [50.0, 1e4])
@pytest.mark.parametrize("delta", [1e-30, 1e-100])
def test_tanh_deficits_near_c_one_against_price_slopes(q, delta):
    """√(V1V2) − E[φφ] = q·W·δ and √(W1W2) − E[φ'φ'] = q·E[φ''²]·δ to O(qδ) at q1 = q2."""
    act = get_activation("tanh")
    with mp.workdps(30):
        qm = mp.mpf(q)
        slope = qm * _expect(lambda x: _sech2(x) ** 2, qm)
        dslope = qm * _expect(lambda x: (2 * mp.tanh(x) * _sech2(x)) ** 2, qm)
    d = mp.mpf(delta)
    assert _relative(act.correlation_deficit(q, q, delta), slope * d) < TOL
    assert _relative(act.derivative_correlation_deficit(q, q, delta), dslope * d) < TOL
    a, b, power = act.small_deficit_slopes(q, q)
    assert power == 1.0
    assert _relative(a, slope) < TOL and _relative(b, dslope) < TOL


def test_tanh_slopes_of_unequal_variances_against_mpmath():
    act = get_activation("tanh")
    q1, q2 = 60.0, 45.0
    with mp.workdps(30):
        a, b = mp.mpf(q1), mp.mpf(q2)
        ratio = mp.sqrt(b / a)
        slope = mp.sqrt(a * b) * _expect(lambda x: _sech2(x) * _sech2(ratio * x), a)
        dslope = mp.sqrt(a * b) * _expect(
            lambda x: 4 * mp.tanh(x) * _sech2(x) * mp.tanh(ratio * x) * _sech2(ratio * x), a
        )
    got_a, got_b, _ = act.small_deficit_slopes(q1, q2)
    assert _relative(got_a, slope) < TOL and _relative(got_b, dslope) < TOL


def test_sigmoid_is_tanh_at_a_quarter_of_the_variance():
    """σ(x) = ½ + ½ tanh(x/2), checked at q = 4·400 against the tanh references."""
    act = get_activation("sigmoid")
    q, delta = 1600.0, 0.3
    with mp.workdps(30):
        qt = mp.mpf(q) / 4
        vt, wt = _tanh_moments(qt)
        value = _tanh_tanh(qt, qt, qt * (1 - mp.mpf(delta)))
    assert _relative(act.variance(q), (1 + vt) / 4) < TOL
    assert _relative(act.derivative_variance(q), wt / 16) < TOL
    assert _relative(act.correlation(q, q, q * (1 - delta)), (1 + value) / 4) < TOL
    assert _relative(act.correlation_deficit(q, q, delta), (vt - value) / 4) < TOL


@pytest.mark.parametrize("name", ["tanh", "sigmoid"])
def test_the_two_rules_agree_at_the_threshold(name):
    """Just below the threshold the Mehler series and the large-variance rule both apply."""
    act = get_activation(name)
    assert act.large is not None  # type: ignore[attr-defined]
    q = 0.9 * act.large.threshold  # type: ignore[attr-defined]
    q1, q2 = np.array([q, q, q]), np.array([q, 0.8 * q, q])
    delta = np.array([0.7, 0.05, 1e-6])
    q12 = (1 - delta) * np.sqrt(q1 * q2)
    mehler = [
        act.correlation(q1, q2, q12),
        act.derivative_correlation(q1, q2, q12),
        act.correlation_deficit(q1, q2, delta),
        act.derivative_correlation_deficit(q1, q2, delta),
    ]
    rule = act.large  # type: ignore[attr-defined]
    large = [
        rule.pairs(False, q1, q2, delta, False)[0],
        rule.pairs(True, q1, q2, delta, False)[0],
        rule.pairs(False, q1, q2, delta, True)[1],
        rule.pairs(True, q1, q2, delta, True)[1],
    ]
    for got, want in zip(large, mehler, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10)


@pytest.mark.parametrize("name", ["tanh", "sigmoid"])
def test_extreme_variances_are_finite_without_warnings(name):
    act = get_activation(name)
    q = np.array([0.0, 1e-300, 1.0, 30.0, 1e4, 1e15])
    q1, q2 = q[:, None], q[None, :]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for delta in (0.0, 1e-300, 1e-20, 0.5, 1.0, 2.0):
            for gap in (
                act.correlation_deficit(q1, q2, delta),
                act.derivative_correlation_deficit(q1, q2, delta),
            ):
                assert np.all(np.isfinite(gap)) and np.all(gap >= 0.0)
            q12 = (1 - delta) * np.sqrt(q1 * q2)
            assert np.all(np.isfinite(act.correlation(q1, q2, q12)))
            assert np.all(np.isfinite(act.derivative_correlation(q1, q2, q12)))
        for moment in (act.variance(q), act.derivative_variance(q), act.variance_slope(q)):
            assert np.all(np.isfinite(moment))
