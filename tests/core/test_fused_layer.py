"""core/fused_layer.py against the same formulas written out in numpy (square roots of
products, as core.kernels.next_layer's docstring states them): within 1e-14 relative."""

from __future__ import annotations

import numpy as np

from core.fused_layer import fused_deficits


def test_fused_deficits_match_the_formulas() -> None:
    rng = np.random.default_rng(3)
    n1, n2 = 37, 29
    v1, v2 = rng.uniform(0.1, 2.0, n1), rng.uniform(0.1, 2.0, n2)
    v2[:5] = v1[:5]  # equal diagonals: no bias or NTK mismatch there
    tg1, tg2 = rng.uniform(0.5, 3.0, n1), rng.uniform(0.5, 3.0, n2)
    dot1, dot2 = rng.uniform(0.2, 1.5, n1), rng.uniform(0.2, 1.5, n2)
    p1, p2 = rng.uniform(0.1, 2.0, n1), rng.uniform(0.1, 2.0, n2)
    r1, r2 = rng.uniform(0.1, 2.0, n1), rng.uniform(0.1, 2.0, n2)
    p2[:5], r2[:5] = p1[:5], r1[:5]
    d_phi = 10.0 ** rng.uniform(-12, 0, (n1, n2))
    d_dphi = 10.0 ** rng.uniform(-12, 0, (n1, n2))
    theta_e = 10.0 ** rng.uniform(-12, 0, (n1, n2))
    bias, theta_t, sigma_shift, theta_shift = 0.1, -3, -2, 0
    e_sigma, e_theta = fused_deficits(
        d_phi, d_dphi, v1, v2, bias, tg1, tg2, theta_e, theta_t, dot1, dot2,
        p1, p2, r1, r2, sigma_shift, theta_shift, True,
    )  # fmt: skip
    a1, a2 = v1[:, None], v2[None, :]
    gap = (
        bias
        * (np.sqrt(a1) - np.sqrt(a2)) ** 2
        / (np.sqrt((a1 + bias) * (a2 + bias)) + np.sqrt(a1 * a2) + bias)
    )
    want_sigma = d_phi + gap
    theta_ab = np.sqrt(tg1)[:, None] * np.sqrt(tg2)[None, :] - theta_e * 2.0**theta_t
    q1, q2, s1, s2 = p1[:, None], p2[None, :], r1[:, None], r2[None, :]
    cross = np.sqrt(q1 * s2) - np.sqrt(q2 * s1)
    den = np.sqrt((q1 + s1) * (q2 + s2)) + np.sqrt(q1 * q2) + np.sqrt(s1 * s2)
    want_theta = (
        want_sigma * 2.0**sigma_shift
        + np.sqrt(dot1[:, None] * dot2[None, :]) * theta_e * 2.0 ** (theta_shift + theta_t)
        + theta_ab * d_dphi * 2.0**theta_shift
        + cross * cross / den
    )
    np.testing.assert_allclose(e_sigma, want_sigma, rtol=1e-14, atol=0)
    np.testing.assert_allclose(e_theta, want_theta, rtol=1e-14, atol=0)
    assert np.all(gap[:5, :5].diagonal() == 0.0)
    np.testing.assert_array_equal(e_sigma[:5, :5].diagonal(), d_phi[:5, :5].diagonal())
