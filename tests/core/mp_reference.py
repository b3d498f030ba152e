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
