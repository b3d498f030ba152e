"""softplus and silu above the Mehler series' reach (their large-variance rule, ``act.large``).

References are computed here, independently of core/, with mpmath at 40 digits. φ is split as
φ = relu + ρ (φ' = step + ρ'), ρ even, localised (|ρ|, |ρ'| < 1e-17 beyond |x| = L = 45) and
kinked only at 0:

* softplus: ρ(x) = log1p(e^−|x|), ρ' = −sign(x)·σ(−|x|); φ' = σ, φ'' = σ(x)σ(−x);
* silu: ρ(x) = −|x|·σ(−|x|); φ' = σ(x)(1 + xσ(−x)), φ'' = σ(x)σ(−x)(2 + x(σ(−x) − σ(x))).

For u, v ~ N(0, [[q1, q12], [q12, q2]]), c = q12/√(q1q2) = 1 − δ, θ = 2·asin(√(δ/2)),
E[φ(u)φ(v)] = E[relu relu] + E[relu(u)ρ(v)] + E[ρ(u)relu(v)] + E[ρ(u)ρ(v)] (φ' likewise):

* E[relu relu] = √(q1q2)(sin θ + (π − θ)c)/(2π), E[step step] = (π − θ)/(2π) (arc-cosine);
* E[relu(u)ρ(v)] by mp.quad over v of ρ(v)·N(v; 0, q2)·E[relu(u) | v], in closed form:
  E[relu(Y)] = mΦ(m/s) + sφ(m/s), E[step(Y)] = Φ(m/s) for Y ~ N(m, s²);
* E[ρ(u)ρ(v)], O(q^−1/2) of the values: where v | u has standard deviation s ≤ 0.1 (near
  c = 1), in mpmath along u with E[ρ(v) | u] = E[φ(Y)] − E[relu(Y)], Y ~ N(a·u, s²),
  Gauss–Hermite for the analytic φ; elsewhere (the density's narrowest deviation ≥ 0.5) by a
  float64 tensor Gauss–Legendre rule on unit panels of [−L, L]² (an edge at the kink),
  accurate to ~1e-16 of itself (checked against finer panels), with 1 − c² formed from δ;
* moments and Price slopes by mp.quad in one variable, break points at the features.

Error budget of the deficits √(V1V2) − E[φφ], formed at 40 digits: they are down to ~1e-9
of V (q = 5e3, δ = 1e-9) and ~1e-11 (q = 1e12, δ = 1e-11), so each part must hold ~1e-21 of
V for 1e-10 of the deficit. The mpmath parts hold ~1e-30 or better: the deficits agree with
two forms free of cancellation, ½·√(V1V2)·E[(f(u)/√V1 − f(v)/√V2)²] near c = 1 (to 1e-25)
and, at q1 = q2, ½·E[(f(u) − f(v))²] in u ± v where qδ ≳ 1 (float64, to 1e-13); the float64
rule is used only where its absolute error (~1e-16 of E[ρρ], ≲ 1e-20) is below 1e-14 of the
deficit. The whole reference is checked against today's Mehler series at q ≤ 30 (accurate
there to ~1e-13). Deficits at δ ≤ 1e-30 are checked against their leading term
q·E[φ'(u)²]·δ (Price; the next term is O(qδ) smaller); at q = 1e30 and 2^119 against relu's
values.

Tolerance: 1e-10 relative, the issue's bound.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import mpmath as mp
import numpy as np
import pytest
from scipy.special import expit

from core.activations import get_activation

TOL = 1e-10
DPS = 40
#: ρ and ρ' are below 1e-17 beyond ±L (test_the_localised_parts_vanish_beyond_l)
L = 45
NAMES = ("softplus", "silu")

MpFunction = Callable[[mp.mpf], mp.mpf]
NpFunction = Callable[[np.ndarray], np.ndarray]


def _sigma(x: mp.mpf) -> mp.mpf:
    return 1 / (1 + mp.exp(-x))


def _relu(x: mp.mpf) -> mp.mpf:
    return x if x > 0 else mp.mpf(0)


def _step(x: mp.mpf) -> mp.mpf:
    return mp.mpf(1) if x > 0 else (mp.mpf(0) if x < 0 else mp.mpf(0.5))


@dataclass(frozen=True)
class Smooth:
    """φ, φ', φ'' and the localised ρ = φ − relu, ρ' = φ' − step in mpmath; ρ, ρ', φ, φ' in
    float64 too."""

    phi: MpFunction
    dphi: MpFunction
    ddphi: MpFunction
    rho: MpFunction
    drho: MpFunction
    rho64: NpFunction
    drho64: NpFunction
    phi64: NpFunction
    dphi64: NpFunction


def _silu_drho64(x: np.ndarray) -> np.ndarray:
    e = np.exp(np.abs(x))
    return np.sign(x) * (np.abs(x) * e / (1 + e) ** 2 - 1 / (1 + e))


SMOOTH = {
    "softplus": Smooth(
        phi=lambda x: _relu(x) + mp.log1p(mp.exp(-abs(x))),
        dphi=_sigma,
        ddphi=lambda x: _sigma(x) * _sigma(-x),
        rho=lambda x: mp.log1p(mp.exp(-abs(x))),
        drho=lambda x: -mp.sign(x) * _sigma(-abs(x)),
        rho64=lambda x: np.log1p(np.exp(-np.abs(x))),
        drho64=lambda x: -np.sign(x) / (1 + np.exp(np.abs(x))),
        phi64=lambda x: np.logaddexp(0.0, x),
        dphi64=expit,
    ),
    "silu": Smooth(
        phi=lambda x: x * _sigma(x),
        dphi=lambda x: _sigma(x) * (1 + x * _sigma(-x)),
        ddphi=lambda x: _sigma(x) * _sigma(-x) * (2 + x * (_sigma(-x) - _sigma(x))),
        rho=lambda x: -abs(x) * _sigma(-abs(x)),
        drho=lambda x: mp.sign(x) * (abs(x) * _sigma(abs(x)) * _sigma(-abs(x)) - _sigma(-abs(x))),
        rho64=lambda x: -np.abs(x) / (1 + np.exp(np.abs(x))),
        drho64=_silu_drho64,
        phi64=lambda x: x * expit(x),
        dphi64=lambda x: expit(x) * (1 + x * expit(-x)),
    ),
}


# ----------------------------------------------------------------------------- 1-D integrals


def _expect(f: MpFunction, q: mp.mpf, scales: tuple[mp.mpf, ...] = (1,)) -> mp.mpf:
    """E[f(u)], u ~ N(0, q), by Gauss–Legendre mp.quad with break points at f's features
    (0, ±5, ±20, ±40, times each of ``scales``) and the Gaussian's (±√q, ±4√q, ±14√q; the
    density is below e^−98 beyond)."""
    root = mp.sqrt(q)
    end = 14 * root
    marks = [scale * t for scale in scales for t in (5, 20, 40)] + [root, 4 * root]
    points = sorted({mp.mpf(0), end, -end, *(s * m for m in marks if m < end for s in (1, -1))})
    return mp.quad(lambda x: f(x) * mp.npdf(x, 0, root), points, method="gauss-legendre")


@functools.cache
def _moments(name: str, q: float) -> tuple[mp.mpf, mp.mpf, mp.mpf, mp.mpf]:
    """(V, W, dV/dq, E[φ''²]) at variance q."""
    s = SMOOTH[name]
    with mp.workdps(DPS):
        qm = mp.mpf(q)
        v = _expect(lambda x: s.phi(x) ** 2, qm)
        w = _expect(lambda x: s.dphi(x) ** 2, qm)
        dv = _expect(lambda x: s.dphi(x) ** 2 + s.phi(x) * s.ddphi(x), qm)
        b = _expect(lambda x: s.ddphi(x) ** 2, qm)
    return v, w, dv, b


@functools.cache
def _slopes(name: str, q1: float, q2: float) -> tuple[mp.mpf, mp.mpf]:
    """√(q1q2)·E[φ'(u)φ'(v)] and √(q1q2)·E[φ''(u)φ''(v)] at c = 1 (v = √(q2/q1)·u)."""
    s = SMOOTH[name]
    with mp.workdps(DPS):
        a, b = mp.mpf(q1), mp.mpf(q2)
        r = mp.sqrt(b / a)
        root = mp.sqrt(a * b)
        slope = _expect(lambda x: s.dphi(x) * s.dphi(r * x), a, (1, 1 / r))
        dslope = _expect(lambda x: s.ddphi(x) * s.ddphi(r * x), a, (1, 1 / r))
    return root * slope, root * dslope


# ----------------------------------------------------------------------------- 2-D integrals


def _given(derivative: bool, m: mp.mpf, s: mp.mpf) -> mp.mpf:
    """E[relu(Y)] (E[step(Y)] if ``derivative``) for Y ~ N(m, s²)."""
    if s == 0:
        return _step(m) if derivative else _relu(m)
    if derivative:
        return mp.ncdf(m / s)
    return m * mp.ncdf(m / s) + s * mp.npdf(m / s)


def _kink_points(width: mp.mpf, features: tuple[float, ...] = (5, 20, L)) -> list[mp.mpf]:
    """Break points at 0, ±features and ±width·(1, 4, 16) (the kink smoothed to ``width``)."""
    marks = [mp.mpf(t) for t in features]
    marks += [width * t for t in (1, 4, 16) if 0 < width * t < features[0]]
    return sorted({mp.mpf(0), *marks, *(-m for m in marks)})


def _cross(name: str, derivative: bool, qa: mp.mpf, qb: mp.mpf, c: mp.mpf, sin2: mp.mpf) -> mp.mpf:
    """E[g(u)·r(v)], g = relu, r = ρ (step, ρ' if ``derivative``), var u = qa, var v = qb:
    ∫ r(y)·N(y; 0, qb)·E[g(u) | v = y] dy, u | v = y ~ N(a·y, s²), s² = qa(1 − c²) = qa·sin2."""
    r = SMOOTH[name].drho if derivative else SMOOTH[name].rho
    a = c * mp.sqrt(qa / qb)
    s = mp.sqrt(qa * sin2)
    width = s / abs(a) if a != 0 else mp.mpf(0)
    root = mp.sqrt(qb)
    # |r| < e^−|y|·|y|: beyond ±100 the integrand is below 1e-40
    points = _kink_points(width, (5, 20, L, 100))
    return mp.quad(
        lambda y: r(y) * mp.npdf(y, 0, root) * _given(derivative, a * y, s),
        points,
        method="gauss-legendre",
    )


@functools.cache
def _hermite(n: int) -> tuple[list[mp.mpf], list[mp.mpf]]:
    with mp.workdps(DPS + 10):
        nodes, weights = mp.gauss_quadrature(n, "hermite")
        return [mp.sqrt(2) * t for t in nodes], [w / mp.sqrt(mp.pi) for w in weights]


def _rr_near_diagonal(name: str, derivative: bool, q1: mp.mpf, a: mp.mpf, s: mp.mpf) -> mp.mpf:
    """E[r(u)r(v)] for v | u ~ N(a·u, s²) with s ≤ 0.1: ∫ r(x)·N(x; 0, q1)·h(x) dx over
    [−L, L] with h(x) = E[r(Y)] = E[f(Y)] − E[g(Y)], Y ~ N(a·x, s²); E[f(Y)] by 20-node
    Gauss–Hermite (f is analytic within π of the real axis: the error is far below 1e-40 for
    s ≤ 0.1). Beyond ±L, |r(x)·h(x)| < 1e-34."""
    smooth = SMOOTH[name]
    f, r = (smooth.dphi, smooth.drho) if derivative else (smooth.phi, smooth.rho)
    nodes, weights = _hermite(20)

    def h(x: mp.mpf) -> mp.mpf:
        m = a * x
        mean = mp.fsum(w * f(m + s * t) for t, w in zip(nodes, weights, strict=True))
        return mean - _given(derivative, m, s)

    root = mp.sqrt(q1)
    points = _kink_points(s / abs(a))
    return mp.quad(lambda x: r(x) * mp.npdf(x, 0, root) * h(x), points, method="gauss-legendre")


def _panels(half_width: float, degree: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes and weights on the unit panels of [−n, n], n = ⌈half_width⌉
    (0 is a panel edge)."""
    t, w = np.polynomial.legendre.leggauss(degree)
    lefts = np.arange(-np.ceil(half_width), np.ceil(half_width))
    return (lefts[:, None] + (1 + t) / 2).ravel(), np.tile(w / 2, lefts.size)


def _rr_wide(name: str, derivative: bool, q1: float, q2: float, delta: float) -> float:
    """E[r(u)r(v)] at c = 1 − δ in float64 by a tensor rule over [−L, L]², for densities whose
    narrowest standard deviation is ≥ 0.5 (16-node unit panels then resolve them to ~1e-16:
    checked against half-width panels of 24 nodes)."""
    smooth = SMOOTH[name]
    r = smooth.drho64 if derivative else smooth.rho64
    q12 = (1 - delta) * np.sqrt(q1 * q2)
    narrowest = (q1 + q2) / 2 - np.hypot((q1 - q2) / 2, q12)
    assert narrowest >= 0.25, "the tensor rule does not resolve so narrow a density"
    x, w = _panels(L)
    rx = w * r(x)
    det = q1 * q2 * delta * (2 - delta)
    exponent = (q2 * x[:, None] ** 2 - 2 * q12 * np.outer(x, x) + q1 * x[None, :] ** 2) / (2 * det)
    return float(rx @ np.exp(-exponent) @ rx / (2 * np.pi * np.sqrt(det)))


@functools.cache
def _pair(name: str, derivative: bool, q1: float, q2: float, delta: float) -> mp.mpf:
    """E[f(u)f(v)] at c = 1 − δ, f = φ (φ' if ``derivative``)."""
    with mp.workdps(DPS):
        a, b, d = mp.mpf(q1), mp.mpf(q2), mp.mpf(delta)
        c = 1 - d
        sin2 = d * (2 - d)  # 1 − c²
        theta = 2 * mp.asin(mp.sqrt(d / 2))
        if derivative:
            closed = (mp.pi - theta) / (2 * mp.pi)
        else:
            closed = mp.sqrt(a * b) * (mp.sin(theta) + (mp.pi - theta) * c) / (2 * mp.pi)
        crosses = _cross(name, derivative, a, b, c, sin2) + _cross(name, derivative, b, a, c, sin2)
        s = mp.sqrt(b * sin2)  # v | u ~ N(c·√(q2/q1)·u, s²)
        if s <= 0.1:
            rr = _rr_near_diagonal(name, derivative, a, c * mp.sqrt(b / a), s)
        else:
            rr = mp.mpf(_rr_wide(name, derivative, q1, q2, delta))
        return closed + crosses + rr


def _deficit(name: str, derivative: bool, q1: float, q2: float, delta: float) -> mp.mpf:
    """√(V1V2) − E[φφ] (√(W1W2) − E[φ'φ'] if ``derivative``) at c = 1 − δ, at 40 digits."""
    k = 1 if derivative else 0
    with mp.workdps(DPS):
        norm = mp.sqrt(_moments(name, q1)[k] * _moments(name, q2)[k])
        return norm - _pair(name, derivative, q1, q2, delta)


def _deficit_as_square(name: str, derivative: bool, q1: float, q2: float, delta: float) -> mp.mpf:
    """√(V1V2) − E[φφ] = ½·√(V1V2)·E[(φ(u)/√V1 − φ(v)/√V2)²], free of cancellation (an
    error ε in V moves it by ~ε·deficit): along u, v | u by Gauss–Hermite (s ≤ 0.1)."""
    smooth = SMOOTH[name]
    f = smooth.dphi if derivative else smooth.phi
    k = 1 if derivative else 0
    nodes, weights = _hermite(20)
    with mp.workdps(DPS):
        a, b, d = mp.mpf(q1), mp.mpf(q2), mp.mpf(delta)
        n1, n2 = mp.sqrt(_moments(name, q1)[k]), mp.sqrt(_moments(name, q2)[k])
        slope, s = (1 - d) * mp.sqrt(b / a), mp.sqrt(b * d * (2 - d))
        assert s <= 0.1

        def gap(x: mp.mpf) -> mp.mpf:
            fx = f(x) / n1
            return mp.fsum(
                w * (fx - f(slope * x + s * t) / n2) ** 2
                for t, w in zip(nodes, weights, strict=True)
            )

        return n1 * n2 * _expect(gap, a) / 2


def _deficit_by_halves(name: str, derivative: bool, q: float, delta: float) -> float:
    """The deficit at q1 = q2 = q by a second route, for checking the reference: with
    u, v = m ± w/2, m ~ N(0, q(1 − δ/2)) and w ~ N(0, 2qδ) independent,
    D = ½E[(f(u) − f(v))²] = qδ/2·[f = φ] + ½E[(f(u) − f(v))² − w²·[f = φ]·[m > 0]], the last
    term localised to |m| ≤ |w|/2 + L (f − relu or step is): float64 tensor rule on unit
    panels (an edge at the kink m = 0), |w| ≤ 14 standard deviations. Accurate to ~1e-13 of D
    where qδ ≳ 1 (w's deviation ≥ 1)."""
    smooth = SMOOTH[name]
    f = smooth.dphi64 if derivative else smooth.phi64
    sw, sm = np.sqrt(2 * q * delta), np.sqrt(q * (1 - delta / 2))
    assert sw >= 1.0, "the unit panels do not resolve w"
    w, ww = _panels(14 * sw)
    m, wm = _panels(7 * sw + L)
    ww = ww * np.exp(-(w**2) / (2 * sw**2)) / (np.sqrt(2 * np.pi) * sw)
    wm = wm * np.exp(-(m**2) / (2 * sm**2)) / (np.sqrt(2 * np.pi) * sm)
    gap = f(m[:, None] + w[None, :] / 2) - f(m[:, None] - w[None, :] / 2)
    square = gap**2 if derivative else gap**2 - np.where(m > 0, 1.0, 0.0)[:, None] * w**2
    lead = 0.0 if derivative else q * delta / 2
    return lead + float(wm @ square @ ww) / 2


def _relative(got: float | np.ndarray, want: mp.mpf) -> float:
    return float(abs(mp.mpf(float(got)) - want) / abs(want))


def _check_pairs(name: str, q1: float, q2: float, delta: float) -> None:
    """correlation, derivative_correlation (at q12 = c·√(q1q2)) and both deficits."""
    act = get_activation(name)
    with mp.workdps(DPS):
        q12 = float(mp.sqrt(mp.mpf(q1) * q2) * (1 - mp.mpf(delta)))
    got = {
        "E[φφ]": act.correlation(q1, q2, q12),
        "E[φ'φ']": act.derivative_correlation(q1, q2, q12),
        "deficit": act.correlation_deficit(q1, q2, delta),
        "derivative deficit": act.derivative_correlation_deficit(q1, q2, delta),
    }
    want = {
        "E[φφ]": _pair(name, False, q1, q2, delta),
        "E[φ'φ']": _pair(name, True, q1, q2, delta),
        "deficit": _deficit(name, False, q1, q2, delta),
        "derivative deficit": _deficit(name, True, q1, q2, delta),
    }
    errors = {label: _relative(got[label], want[label]) for label in got}
    assert max(errors.values()) < TOL, errors


def _check_moments(name: str, q: float) -> None:
    act = get_activation(name)
    v, w, dv, _ = _moments(name, q)
    errors = {
        "V": _relative(act.variance(q), v),
        "W": _relative(act.derivative_variance(q), w),
        "dV/dq": _relative(act.variance_slope(q), dv),
    }
    assert max(errors.values()) < TOL, errors


def _check_slopes(name: str, q1: float, q2: float) -> None:
    a, b, power = get_activation(name).small_deficit_slopes(q1, q2)
    slope, dslope = _slopes(name, q1, q2)
    assert power == 1.0
    errors = {"A": _relative(a, slope), "B": _relative(b, dslope)}
    assert max(errors.values()) < TOL, errors


# ----------------------------------------------------------------------------- the reference


@pytest.mark.parametrize("name", NAMES)
def test_the_localised_parts_vanish_beyond_l(name):
    """|ρ|, |ρ'| < 1e-17 beyond L (both decay like |x|e^−|x|), and the float64 forms are the
    mpmath ones."""
    smooth = SMOOTH[name]
    with mp.workdps(DPS):
        for x in (L, 1.5 * L, 3 * L):
            for part in (smooth.rho, smooth.drho):
                assert abs(part(mp.mpf(x))) < 1e-17 and abs(part(mp.mpf(-x))) < 1e-17
        pairs = [
            (smooth.rho64, smooth.rho),
            (smooth.drho64, smooth.drho),
            (smooth.phi64, smooth.phi),
            (smooth.dphi64, smooth.dphi),
        ]
        for x in (-30.5, -2.25, -0.125, 0.375, 3.0, 30.5):
            for f64, f in pairs:
                assert _relative(f64(np.array([x]))[0], f(mp.mpf(x))) < 1e-14
            xm = mp.mpf(x)
            for f, whole in ((smooth.rho, smooth.phi), (smooth.drho, smooth.dphi)):
                kinked = _step(xm) if f is smooth.drho else _relu(xm)
                assert abs(kinked + f(xm) - whole(xm)) < 1e-35 * abs(whole(xm))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    ("q1", "q2", "delta"),
    [(20.0, 20.0, 0.3), (30.0, 5.0, 1.3), (30.0, 20.0, 1e-6), (30.0, 30.0, 1e-9)],
)
def test_reference_matches_the_series_below_the_threshold(name, q1, q2, delta):
    """The reference against today's Mehler series (accurate to ~1e-13 at q ≤ 30): both 2-D
    paths (wide, and near the diagonal), the 1-D moments and the slopes."""
    _check_moments(name, q1)
    _check_moments(name, q2)
    _check_pairs(name, q1, q2, delta)
    _check_slopes(name, q1, q2)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(("q1", "q2", "delta"), [(1e3, 990.0, 1e-6), (5e3, 5e3, 1e-9)])
@pytest.mark.parametrize("derivative", [False, True])
def test_reference_deficits_near_c_one_are_free_of_cancellation(name, q1, q2, delta, derivative):
    """The relu + ρ reference, √(V1V2) − E[ff] at 40 digits, against ½·E[(f(u)/√V1 −
    f(v)/√V2)²]·√(V1V2) (no cancellation), at the variances the series cannot reach."""
    with mp.workdps(DPS):
        want = _deficit_as_square(name, derivative, q1, q2, delta)
        assert abs(_deficit(name, derivative, q1, q2, delta) / want - 1) < 1e-25


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(("q", "delta"), [(1e4, 1e-3), (1e8, 1e-8), (1e12, 1e-11)])
@pytest.mark.parametrize("derivative", [False, True])
def test_reference_deficits_where_q_delta_is_order_one_agree_with_a_second_form(
    name, q, delta, derivative
):
    """Where qδ ≳ 1 the reference (wide path) against ½·E[(f(u) − f(v))²] in u ± v."""
    want = _deficit(name, derivative, q, q, delta)
    assert _relative(_deficit_by_halves(name, derivative, q, delta), want) < 1e-13


# ----------------------------------------------------------------------------- the rule


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("q", [40.0, 1e3, 1e6, 1e12])
def test_moments_against_mpmath(name, q):
    _check_moments(name, q)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    ("q1", "q2", "delta"),
    [(400.0, 400.0, 0.3), (1e4, 8e3, 1.3), (1e3, 990.0, 1e-6), (5e3, 5e3, 1e-9)],
)
def test_values_and_deficits_against_mpmath(name, q1, q2, delta):
    _check_pairs(name, q1, q2, delta)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(("q", "delta"), [(1e4, 1e-3), (1e8, 1e-8), (1e12, 1e-11)])
def test_values_and_deficits_where_q_delta_is_order_one_against_mpmath(name, q, delta):
    """Between Price's regime (qδ ≪ 1) and relu's (qδ ≫ 1), at q1 = q2: here a float64 c = 1 − δ
    alone is off by ~1e-16/δ (1e-5 at δ = 1e-11)."""
    _check_pairs(name, q, q, delta)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("q", [50.0, 1e4])
@pytest.mark.parametrize("delta", [1e-30, 1e-100])
def test_deficits_near_c_one_against_price_slopes(name, q, delta):
    """√(V1V2) − E[φφ] = q·W·δ and √(W1W2) − E[φ'φ'] = q·E[φ''²]·δ to O(qδ) at q1 = q2."""
    act = get_activation(name)
    _, w, _, b = _moments(name, q)
    d = mp.mpf(delta)
    assert _relative(act.correlation_deficit(q, q, delta), q * w * d) < TOL
    assert _relative(act.derivative_correlation_deficit(q, q, delta), q * b * d) < TOL


@pytest.mark.parametrize("name", NAMES)
def test_slopes_of_unequal_variances_against_mpmath(name):
    """A = √(q1q2)·E[φ'(u)φ'(v)], B = √(q1q2)·E[φ''(u)φ''(v)] at c = 1 by 1-D integrals."""
    _check_slopes(name, 1e3, 300.0)


def _methods(act, q: float) -> dict[str, float]:
    """Every method at q (moments, slopes; values and deficits at q1 = q2 = q)."""
    out = {"V": act.variance(q), "W": act.derivative_variance(q), "dV/dq": act.variance_slope(q)}
    out["A"], out["B"], _ = act.small_deficit_slopes(q, q)
    for delta in (0.4, 1e-6):
        q12 = (1 - delta) * q
        out[f"E[φφ] at δ = {delta}"] = act.correlation(q, q, q12)
        out[f"E[φ'φ'] at δ = {delta}"] = act.derivative_correlation(q, q, q12)
        out[f"deficit at δ = {delta}"] = act.correlation_deficit(q, q, delta)
        out[f"derivative deficit at δ = {delta}"] = act.derivative_correlation_deficit(q, q, delta)
    return {label: float(x) for label, x in out.items()}


@pytest.mark.parametrize("name", NAMES)
def test_the_two_rules_agree_at_the_threshold(name):
    """The Mehler series just below the threshold, the large-variance rule just above it.

    The quantities themselves move by ~2e-9 (relative) between threshold·(1 ∓ 1e-9); that
    move is taken out to first order with slopes measured on the rule's side (over 1e-4 of
    q, so their errors, ~1e-4 relative, leave ~1e-13 of the quantities).
    """
    act = get_activation(name)
    threshold = act.large.threshold  # type: ignore[attr-defined]
    below, above = threshold * (1 - 1e-9), threshold * (1 + 1e-9)
    further = above * (1 + 1e-4)
    series, rule, next_rule = _methods(act, below), _methods(act, above), _methods(act, further)
    errors = {}
    for label, f_above in rule.items():
        slope = (next_rule[label] - f_above) / (further - above)
        predicted = f_above + slope * (below - above)
        errors[label] = abs(series[label] - predicted) / abs(f_above)
    assert max(errors.values()) <= TOL, errors


def _extreme(act, q: float) -> dict[str, float]:
    """Every method at q (slopes, values and deficits at q1 = q2 = q), without warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = {
            "V": act.variance(q),
            "W": act.derivative_variance(q),
            "dV/dq": act.variance_slope(q),
        }
        for delta in (0.5, 1e-20):
            q12 = (1 - delta) * q
            got[f"E[φφ] at δ = {delta}"] = act.correlation(q, q, q12)
            got[f"E[φ'φ'] at δ = {delta}"] = act.derivative_correlation(q, q, q12)
            got[f"deficit at δ = {delta}"] = act.correlation_deficit(q, q, delta)
            got[f"derivative deficit at δ = {delta}"] = act.derivative_correlation_deficit(
                q, q, delta
            )
        got["A"], got["B"], _ = act.small_deficit_slopes(q, q)
    return {label: float(x) for label, x in got.items()}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("q", [1e30, 2.0**119])
def test_extreme_variances_are_finite_without_warnings(name, q):
    values = _extreme(get_activation(name), q)
    assert all(np.isfinite(list(values.values()))), values
    for label, x in values.items():
        if not label.startswith(("dV", "E[")):  # V, W, the deficits, A and B
            assert x >= 0.0, (label, x)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("q", [1e30, 2.0**119])
def test_extreme_variances_give_relus_values(name, q):
    """φ − relu's share is O(1/q) of V and E[φφ], O(q^−1/2) of W, dV/dq, E[φ'φ'] and the
    deficits: below 1e-14 here, except in the derivative deficit at δ = 1e-20, θ/(2π) ≈ 2e-11,
    where it is ~1e-5. At δ = 1e-20, qδ ≫ 1: the deficits are relu's, ≈ qδ/2 and θ/(2π), not
    Price's leading terms."""
    values = _extreme(get_activation(name), q)
    with mp.workdps(60):
        qm = mp.mpf(q)
        want = {"V": qm / 2, "W": mp.mpf(0.5), "dV/dq": mp.mpf(0.5)}
        for delta in (0.5, 1e-20):
            d = mp.mpf(delta)
            theta, c = 2 * mp.asin(mp.sqrt(d / 2)), 1 - d
            value = qm * (mp.sin(theta) + (mp.pi - theta) * c) / (2 * mp.pi)
            dvalue = (mp.pi - theta) / (2 * mp.pi)
            want[f"E[φφ] at δ = {delta}"] = value
            want[f"E[φ'φ'] at δ = {delta}"] = dvalue
            want[f"deficit at δ = {delta}"] = qm / 2 - value
            want[f"derivative deficit at δ = {delta}"] = mp.mpf(0.5) - dvalue
    errors = {label: _relative(values[label], expected) for label, expected in want.items()}
    loose = "derivative deficit at δ = 1e-20"
    bounds = {label: 1e-3 if label == loose else TOL for label in errors}
    assert all(errors[label] < bounds[label] for label in errors), (errors, values)
