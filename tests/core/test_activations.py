"""Activation registry and Gaussian expectations against mpmath references (computed here).

Closed forms: 2-D expectations with the inner Gaussian integral done analytically and the
outer one by mpmath quadrature at 30 digits (tolerance 1e-12 relative). Numerical
activations: a 2-D composite Gauss–Legendre product rule evaluated in mpmath (tolerance
1e-10 relative).
"""

from __future__ import annotations

import dataclasses
import warnings

import mpmath as mp
import numpy as np
import pytest

from core.activations import get_activation, list_activations
from core.errors import NumericalError, UnknownActivationError

mp.mp.dps = 30
DENSITY = 1 / mp.sqrt(2 * mp.pi)


def normal(z: mp.mpf) -> mp.mpf:
    return DENSITY * mp.exp(-z * z / 2)


def outer(f, inner, q1: float, q2: float, c: mp.mpf) -> mp.mpf:
    """E_z1[f(√q1 z1) · inner(√q2 c z1)] by mpmath quadrature (split at the kink z1 = 0)."""
    r1, r2 = mp.sqrt(q1), mp.sqrt(q2)
    return mp.quad(lambda z: f(r1 * z) * inner(r2 * c * z) * normal(z), [-mp.inf, 0, mp.inf])


def piecewise_reference(a: float, b: float, q1: float, q2: float, q12: float):
    """E[φφ], E[φ'φ'] for φ(x) = b·x (x ≥ 0), a·x (x < 0); inner expectation analytic."""
    q1m, q2m = mp.mpf(q1), mp.mpf(q2)
    c = mp.mpf(q12) / mp.sqrt(q1m * q2m)
    sig = mp.sqrt(q2m * (1 - c * c))

    def phi(x):
        return b * x if x >= 0 else a * x

    def e_phi(m):  # E[φ(m + σ z)]
        t = m / sig
        relu_pos = m * mp.ncdf(t) + sig * normal(t)
        relu_neg = -m * mp.ncdf(-t) + sig * normal(t)
        return b * relu_pos - a * relu_neg

    def dphi(x):
        return b if x > 0 else a

    def e_dphi(m):
        return b * mp.ncdf(m / sig) + a * mp.ncdf(-m / sig)

    return outer(phi, e_phi, q1, q2, c), outer(dphi, e_dphi, q1, q2, c)


def erf_reference(q1: float, q2: float, q12: float):
    q1m, q2m = mp.mpf(q1), mp.mpf(q2)
    c = mp.mpf(q12) / mp.sqrt(q1m * q2m)
    s2 = q2m * (1 - c * c)
    g = 2 / mp.sqrt(mp.pi)
    corr = outer(mp.erf, lambda m: mp.erf(m / mp.sqrt(1 + 2 * s2)), q1, q2, c)
    dcorr = outer(
        lambda x: g * mp.exp(-x * x),
        lambda m: g * mp.exp(-m * m / (1 + 2 * s2)) / mp.sqrt(1 + 2 * s2),
        q1,
        q2,
        c,
    )
    return corr, dcorr


POINTS = [(1.0, 2.0, 0.3 * np.sqrt(2.0)), (0.5, 0.7, 0.999 * np.sqrt(0.35)), (1.3, 1.3, -1.04)]


def relative(value: float, reference: mp.mpf, scale: mp.mpf) -> float:
    return float(abs(mp.mpf(float(value)) - reference) / scale)


@pytest.mark.parametrize(
    ("spec", "a", "b"),
    [("relu", 0.0, 1.0), ({"name": "leaky_relu", "alpha": 0.2}, 0.2, 1.0), ("abs", -1.0, 1.0)],
)
@pytest.mark.parametrize(("q1", "q2", "q12"), POINTS)
def test_piecewise_linear_closed_forms(spec, a, b, q1, q2, q12):
    act = get_activation(spec)
    corr, dcorr = piecewise_reference(a, b, q1, q2, q12)
    scale = mp.sqrt(act.variance(q1) * act.variance(q2))
    assert relative(act.correlation(q1, q2, q12), corr, scale) < 1e-12
    assert (
        relative(act.derivative_correlation(q1, q2, q12), dcorr, act.derivative_variance(q1))
        < 1e-12
    )
    assert act.variance(q1) == pytest.approx((a * a + b * b) * q1 / 2, rel=1e-15)
    assert act.variance_slope(q1) == pytest.approx((a * a + b * b) / 2, rel=1e-15)


@pytest.mark.parametrize(("q1", "q2", "q12"), POINTS)
def test_erf_closed_form(q1, q2, q12):
    act = get_activation("erf")
    corr, dcorr = erf_reference(q1, q2, q12)
    assert relative(act.correlation(q1, q2, q12), corr, abs(corr)) < 1e-12
    assert relative(act.derivative_correlation(q1, q2, q12), dcorr, dcorr) < 1e-12


@pytest.mark.parametrize("q", [0.05, 1.0, 7.0])
def test_erf_and_relu_one_dimensional_moments(q):
    qm = mp.mpf(q)
    erf = get_activation("erf")
    g = 2 / mp.sqrt(mp.pi)

    def moment(f):
        return mp.quad(lambda z: f(mp.sqrt(qm) * z) * normal(z), [-mp.inf, 0, mp.inf])

    v = moment(lambda x: mp.erf(x) ** 2)
    w = moment(lambda x: (g * mp.exp(-x * x)) ** 2)
    slope = moment(lambda x: (g * mp.exp(-x * x)) ** 2 + mp.erf(x) * g * (-2 * x) * mp.exp(-x * x))
    assert relative(erf.variance(q), v, v) < 1e-13
    assert relative(erf.derivative_variance(q), w, w) < 1e-13
    assert relative(erf.variance_slope(q), slope, slope) < 1e-12


def test_identity_is_exact():
    act = get_activation("identity")
    assert act.correlation(1.0, 2.0, 0.7) == 0.7
    assert act.derivative_correlation(1.0, 2.0, 0.7) == 1.0
    assert act.variance(3.0) == 3.0
    assert act.correlation_deficit(4.0, 9.0, 0.25) == pytest.approx(6.0 * 0.25, rel=1e-15)


def mp_piecewise_deficit(a, b, q1, q2, delta):
    """√(V1V2) − E[φφ] from the closed form evaluated in 50-digit arithmetic."""
    with mp.workdps(50):
        a, b, q1, q2, delta = map(mp.mpf, (a, b, q1, q2, delta))
        c = 1 - delta
        th = mp.acos(c)
        root = mp.sqrt(q1 * q2)
        corr = (
            root
            / (2 * mp.pi)
            * (
                (a * a + b * b) * (mp.sin(th) + (mp.pi - th) * c)
                - 2 * a * b * (mp.sin(th) - th * c)
            )
        )
        return (a * a + b * b) / 2 * root - corr, ((a - b) ** 2) * th / (2 * mp.pi)


@pytest.mark.parametrize("delta", [1e-30, 1e-12, 1e-5, 0.4, 1.7])
@pytest.mark.parametrize(("q1", "q2"), [(1.0, 1.0), (0.3, 2.5)])
def test_deficits_keep_their_digits_near_c_equal_one(delta, q1, q2):
    for spec, a, b in [("relu", 0.0, 1.0), ({"name": "leaky_relu", "alpha": 0.3}, 0.3, 1.0)]:
        act = get_activation(spec)
        ref, dref = mp_piecewise_deficit(a, b, q1, q2, delta)
        assert relative(act.correlation_deficit(q1, q2, delta), ref, ref) < 1e-13
        assert relative(act.derivative_correlation_deficit(q1, q2, delta), dref, dref) < 1e-13
    erf = get_activation("erf")
    with mp.workdps(60):
        qa, qb, d = mp.mpf(q1), mp.mpf(q2), mp.mpf(delta)
        va = 2 / mp.pi * mp.asin(2 * qa / (1 + 2 * qa))
        vb = 2 / mp.pi * mp.asin(2 * qb / (1 + 2 * qb))
        q12 = mp.sqrt(qa * qb) * (1 - d)
        corr = 2 / mp.pi * mp.asin(2 * q12 / mp.sqrt((1 + 2 * qa) * (1 + 2 * qb)))
        wa, wb = 4 / mp.pi / mp.sqrt(1 + 4 * qa), 4 / mp.pi / mp.sqrt(1 + 4 * qb)
        dcorr = 4 / mp.pi / mp.sqrt((1 + 2 * qa) * (1 + 2 * qb) - 4 * q12**2)
        ref, dref = mp.sqrt(va * vb) - corr, mp.sqrt(wa * wb) - dcorr
    # the norm-mismatch part has absolute accuracy ~1e-16·V (module doc of closed_forms)
    assert float(abs(erf.correlation_deficit(q1, q2, delta) - ref)) < 1e-13 * float(ref) + 1e-16
    assert relative(erf.derivative_correlation_deficit(q1, q2, delta), dref, dref) < 1e-13


# --- numerical activations ------------------------------------------------------------


def gl_product(f, g, q1: float, q2: float, q12: float) -> tuple[mp.mpf, ...]:
    """E[f_i(u) g_i(v)]: 2-D composite Gauss–Legendre (17 unit panels × 10 nodes per axis on
    [−8.5, 8.5]², error < 1e-13 for these integrands) evaluated in mpmath."""
    x, w = np.polynomial.legendre.leggauss(10)
    edges = np.arange(-8.5, 8.5, 1.0)
    nodes = [mp.mpf(float(e + 0.5 * (1 + xi))) for e in edges for xi in x]
    weights = [
        mp.mpf(float(0.5 * wi)) * normal(mp.mpf(float(e + 0.5 * (1 + xi))))
        for e in edges
        for xi, wi in zip(x, w, strict=True)
    ]
    q1m, q2m = mp.mpf(q1), mp.mpf(q2)
    c = mp.mpf(q12) / mp.sqrt(q1m * q2m)
    s = mp.sqrt(1 - c * c)
    r1, r2 = mp.sqrt(q1m), mp.sqrt(q2m)
    totals = [mp.mpf(0)] * len(g)
    for z1, w1 in zip(nodes, weights, strict=True):
        inner = [mp.mpf(0)] * len(g)
        for z2, w2 in zip(nodes, weights, strict=True):
            v = r2 * (c * z1 + s * z2)
            for i, gi in enumerate(g):
                inner[i] += w2 * gi(v)
        for i in range(len(g)):
            totals[i] += w1 * f[i](r1 * z1) * inner[i]
    return tuple(totals)


def _sigmoid(x):
    return 1 / (1 + mp.exp(-x))


MP_FUNCTIONS = {
    "tanh": (mp.tanh, lambda x: 1 - mp.tanh(x) ** 2),
    "sigmoid": (_sigmoid, lambda x: _sigmoid(x) * (1 - _sigmoid(x))),
    "softplus": (lambda x: mp.log(1 + mp.exp(x)), _sigmoid),
    "silu": (lambda x: x * _sigmoid(x), lambda x: _sigmoid(x) * (1 + x * (1 - _sigmoid(x)))),
}


@pytest.mark.parametrize("name", sorted(MP_FUNCTIONS))
def test_numerical_activations_against_mpmath(name):
    act = get_activation(name)
    phi, dphi = MP_FUNCTIONS[name]
    q1, q2, q12 = 0.8, 1.9, 0.6
    with mp.workdps(17):
        corr, dcorr = gl_product([phi, dphi], [phi, dphi], q1, q2, q12)
        v = mp.quad(lambda z: phi(mp.sqrt(q1) * z) ** 2 * normal(z), [-mp.inf, mp.inf])
        w = mp.quad(lambda z: dphi(mp.sqrt(q1) * z) ** 2 * normal(z), [-mp.inf, mp.inf])
    assert relative(act.correlation(q1, q2, q12), corr, abs(corr)) < 1e-10
    assert relative(act.derivative_correlation(q1, q2, q12), dcorr, abs(dcorr)) < 1e-10
    assert relative(act.variance(q1), v, v) < 1e-10
    assert relative(act.derivative_variance(q1), w, w) < 1e-10
    assert not act.closed_form


@pytest.mark.parametrize("name", ["tanh", "softplus"])
def test_numerical_deficits_are_consistent(name):
    act = get_activation(name)
    q1, q2 = 0.7, 1.1
    for delta in [0.3, 1.2]:
        q12 = np.sqrt(q1 * q2) * (1 - delta)
        direct = np.sqrt(act.variance(q1) * act.variance(q2)) - act.correlation(q1, q2, q12)
        assert act.correlation_deficit(q1, q2, delta) == pytest.approx(direct, rel=1e-11)
    # near c = 1 the deficit is linear in δ with slope a (Price's theorem)
    a, b, p = act.small_deficit_slopes(q1, q1)
    assert p == 1.0
    assert act.correlation_deficit(q1, q1, 1e-40) == pytest.approx(a * 1e-40, rel=1e-12)
    assert act.derivative_correlation_deficit(q1, q1, 1e-40) == pytest.approx(b * 1e-40, rel=1e-12)
    assert a == pytest.approx(q1 * act.derivative_variance(q1), rel=1e-12)


def test_numerical_activation_refuses_what_it_cannot_resolve():
    """softplus without its large-variance rule: at q = 300 its Hermite series does not
    converge, and it says so rather than return fewer digits."""
    series_only = dataclasses.replace(get_activation("softplus"), large=None)
    with pytest.raises(NumericalError, match="does not converge"):
        series_only.correlation(300.0, 300.0, 150.0)


@pytest.mark.parametrize("name", ["relu", "abs", "erf", "gelu", "identity", "tanh"])
def test_guards_no_warnings_at_the_edges(name):
    act = get_activation(name)
    q = np.array([0.0, 1e-300, 1.0, 2.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for q12 in (-1.0, 0.0, 1.0):
            values = [
                act.correlation(q[:, None], q[None, :], q12 * np.sqrt(q[:, None] * q[None, :])),
                act.derivative_correlation(q[:, None], q[None, :], q12),
                act.correlation_deficit(q[:, None], q[None, :], 1.0 - q12),
                act.derivative_correlation_deficit(q[:, None], q[None, :], 1.0 - q12),
                act.variance(q),
                act.derivative_variance(q),
            ]
            assert all(np.all(np.isfinite(v)) for v in values)


def test_registry_lookup_and_errors():
    assert get_activation("relu").name == "relu"
    leaky = get_activation({"name": "leaky_relu", "alpha": 0.1})
    assert leaky.params == {"alpha": 0.1}
    assert get_activation({"name": "leaky_relu"}).params == {"alpha": 0.01}
    with pytest.raises(UnknownActivationError, match=r"valid names: .*relu"):
        get_activation("rleu")
    with pytest.raises(UnknownActivationError, match="no parameter"):
        get_activation({"name": "relu", "alpha": 0.1})
    with pytest.raises(UnknownActivationError, match=r"\[-1.0, 1.0\]"):
        get_activation({"name": "leaky_relu", "alpha": 5.0})
    with pytest.raises(UnknownActivationError, match="must be a number"):
        get_activation({"name": "leaky_relu", "alpha": "x"})
    infos = {info.name: info for info in list_activations()}
    assert infos["relu"].closed_form and not infos["tanh"].closed_form
    assert infos["leaky_relu"].parameters[0].name == "alpha"
    assert set(infos) >= {"identity", "relu", "leaky_relu", "abs", "erf", "tanh", "sigmoid"}
