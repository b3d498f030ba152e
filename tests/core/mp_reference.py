"""The reference the core's kernels are checked against: MATH.md §2 entry by entry, in mpmath.

Precision is the caller's (``mp.workdps``). An expectations function maps
(q1, q2, q12) to (E[φ(u)φ(v)], E[φ'(u)φ'(v)]) for u, v ~ N(0, [[q1, q12], [q12, q2]]).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import mpmath as mp
import numpy as np

Expectations = Callable[[mp.mpf, mp.mpf, mp.mpf], tuple[mp.mpf, mp.mpf]]
Kernel = list[list[mp.mpf]]


def mp_relu(q1: mp.mpf, q2: mp.mpf, q12: mp.mpf) -> tuple[mp.mpf, mp.mpf]:
    c = max(min(q12 / mp.sqrt(q1 * q2), 1), -1)
    th = mp.acos(c)
    e_ff = mp.sqrt(q1 * q2) * (mp.sin(th) + (mp.pi - th) * c) / (2 * mp.pi)
    return e_ff, (mp.pi - th) / (2 * mp.pi)


def mp_erf(q1: mp.mpf, q2: mp.mpf, q12: mp.mpf) -> tuple[mp.mpf, mp.mpf]:
    det = (1 + 2 * q1) * (1 + 2 * q2)
    return 2 / mp.pi * mp.asin(2 * q12 / mp.sqrt(det)), 4 / mp.pi / mp.sqrt(det - 4 * q12**2)


def mp_sin(q1: mp.mpf, q2: mp.mpf, q12: mp.mpf) -> tuple[mp.mpf, mp.mpf]:
    damping = mp.exp(-(q1 + q2) / 2)
    return damping * mp.sinh(q12), damping * mp.cosh(q12)


EXPECTATIONS: dict[str, Expectations] = {"relu": mp_relu, "erf": mp_erf, "sin": mp_sin}


def mp_kernel_layers(
    x: np.ndarray,
    expectations: Expectations,
    w2: float,
    b2: float,
    depths: Iterable[int],
    *,
    w0: float | None = None,
    b0: float | None = None,
) -> dict[int, tuple[Kernel, Kernel]]:
    """{depth: (Σ, Θ)} on all pairs of the rows of x; first-layer variances w0, b0."""
    wanted = set(depths)
    n, d = x.shape
    w2_, b2_ = mp.mpf(w2), mp.mpf(b2)
    w0_ = w2_ if w0 is None else mp.mpf(w0)
    b0_ = b2_ if b0 is None else mp.mpf(b0)
    rows = [[mp.mpf(float(v)) for v in row] for row in x]
    sigma = [
        [w0_ * mp.fsum(a * b for a, b in zip(ra, rb, strict=True)) / d + b0_ for rb in rows]
        for ra in rows
    ]
    theta = [row[:] for row in sigma]
    out = {1: (sigma, theta)} if 1 in wanted else {}
    for layer in range(2, max(wanted) + 1):
        new_s = [[mp.mpf(0)] * n for _ in range(n)]
        new_t = [[mp.mpf(0)] * n for _ in range(n)]
        for a in range(n):
            for b in range(a, n):
                e_ff, e_dd = expectations(sigma[a][a], sigma[b][b], sigma[a][b])
                new_s[a][b] = new_s[b][a] = w2_ * e_ff + b2_
                new_t[a][b] = new_t[b][a] = new_s[a][b] + w2_ * e_dd * theta[a][b]
        sigma, theta = new_s, new_t
        if layer in wanted:
            out[layer] = (sigma, theta)
    return out


def _ncdf(x: mp.mpf) -> mp.mpf:
    """Φ(x), exactly 0 or 1 past |x| = 60 (1e-780: far below any working precision here)."""
    return mp.mpf(0) if x < -60 else mp.mpf(1) if x > 60 else mp.ncdf(x)


def _npdf(x: mp.mpf) -> mp.mpf:
    return mp.mpf(0) if abs(x) > 60 else mp.npdf(x)


def mp_gelu(q1: mp.mpf, q2: mp.mpf, q12: mp.mpf) -> tuple[mp.mpf, mp.mpf]:
    """gelu (φ(x) = x·Φ(x)) by one quadrature over u of closed forms given u: with v | u ~
    N(m, s²), k = m/√(1 + s²), E[vΦ(v)] = mΦ(k) + s²φ(k)/√(1 + s²) and E[Φ(v) + vφ(v)]
    = Φ(k) + mφ(k)/(1 + s²)^{3/2} (Stein's lemma). mpmath's exponent range is unbounded."""
    root = mp.sqrt(q1)
    ratio = q12 / q1
    s2 = max(q2 - q12 * ratio, 0)
    spread = mp.sqrt(1 + s2)

    def given(z: mp.mpf) -> tuple[mp.mpf, mp.mpf, mp.mpf, mp.mpf]:
        u = root * z
        m = ratio * u
        k = m / spread
        weight = mp.npdf(z)
        return (
            u * _ncdf(u) * weight,
            m * _ncdf(k) + s2 * _npdf(k) / spread,
            (_ncdf(u) + u * _npdf(u)) * weight,
            _ncdf(k) + m * _npdf(k) / spread**3,
        )

    scale = mp.sqrt(q1 * q2)  # E[φφ]/scale is O(1): mpmath's quad stops on absolute errors

    def e_ff(z: mp.mpf) -> mp.mpf:
        phi, conditional, _, _ = given(z)
        return phi * conditional / scale

    def e_dd(z: mp.mpf) -> mp.mpf:
        _, _, dphi, conditional = given(z)
        return dphi * conditional

    nodes = [-mp.inf, -1 / root, 0, 1 / root, mp.inf]
    return mp.quad(e_ff, nodes) * scale, mp.quad(e_dd, nodes)


EXPECTATIONS["gelu"] = mp_gelu
