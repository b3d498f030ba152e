"""One pass over the n1·n2 entries for the deficit bookkeeping of a layer (numba).

Given the activation's deficits D = σ_w²(√(V_aV_b) − E[φφ]) and Ḋ = σ_w²(√(W_aW_b) −
E[φ'φ']) (each one fused ufunc pass), :func:`core.kernels.next_layer` in the non-linear
regime needs E_Σ' = D + bias mismatch and E_Θ' = E_Σ' + √(Σ̇_aaΣ̇_bb) E_Θ + Θ_ab Ḋ + NTK
mismatch, each part at its own power-of-two exponent. In numpy that is ~40 passes with
temporaries over n1·n2 arrays; here it is one (the reason for numba). Square roots of
products of two points' diagonals are taken as products of their square roots (computed
once per point; equal to within an ulp).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from core.activations.base import Array


@numba.njit(parallel=True, cache=True)
def fused_deficits(
    d_phi: Array,
    d_dphi: Array,
    v1: Array,
    v2: Array,
    bias: float,
    theta_g1: Array,
    theta_g2: Array,
    theta_e: Array,
    theta_t: int,
    dot1: Array,
    dot2: Array,
    p1: Array,
    p2: Array,
    r1: Array,
    r2: Array,
    sigma_shift: int,
    theta_shift: int,
    mismatch: bool,
) -> tuple[Array, Array]:
    """(E_Σ' at exponent 0, E_Θ' at exponent 0 relative to the Θ scale ``top``).

    ``sigma_shift`` = s_Σ − top and ``theta_shift`` = s_Θ − top (both ≤ 0); ``p``, ``r``:
    Σ'_aa and Σ̇'_aa Θ_aa on the scale 2^top.
    """
    n1, n2 = d_phi.shape
    e_sigma = np.empty((n1, n2))
    e_theta = np.empty((n1, n2))
    f_sigma = math.ldexp(1.0, sigma_shift)
    f_theta = math.ldexp(1.0, theta_shift)
    f_theta_e = math.ldexp(1.0, theta_shift + theta_t) if theta_shift + theta_t > -1100 else 0.0
    f_e = math.ldexp(1.0, theta_t) if theta_t > -1100 else 0.0
    # square roots per point (the entries take products of them)
    side1 = _roots(v1, bias, theta_g1, dot1, p1, r1)
    side2 = _roots(v2, bias, theta_g2, dot2, p2, r2)
    for a in numba.prange(n1):
        sv1, svb1, st1, sd1, sp1, sr1, spr1 = side1[:, a]
        for b in range(n2):
            sv2, svb2, st2, sd2, sp2, sr2, spr2 = (
                side2[0, b],
                side2[1, b],
                side2[2, b],
                side2[3, b],
                side2[4, b],
                side2[5, b],
                side2[6, b],
            )
            gap = 0.0
            if bias > 0.0:
                diff = sv1 - sv2
                gap = bias * diff * diff / (svb1 * svb2 + sv1 * sv2 + bias)
            es = d_phi[a, b] + gap
            e_sigma[a, b] = es
            theta_ab = st1 * st2 - theta_e[a, b] * f_e
            total = (
                es * f_sigma
                + (sd1 * sd2) * theta_e[a, b] * f_theta_e
                + theta_ab * d_dphi[a, b] * f_theta
            )
            if mismatch:
                cross = sp1 * sr2 - sp2 * sr1
                den = spr1 * spr2 + sp1 * sp2 + sr1 * sr2
                if den > 0.0:
                    total += cross * cross / den
            e_theta[a, b] = max(total, 0.0)
    return e_sigma, e_theta


@numba.njit(cache=True)
def _roots(v: Array, bias: float, theta_g: Array, dot: Array, p: Array, r: Array) -> Array:
    """Rows √V, √(V + bias), √Θ_aa, √Σ̇_aa, √p, √r, √(p + r) per point, [7, point]."""
    out = np.empty((7, v.size))
    for i in range(v.size):
        out[0, i] = math.sqrt(v[i])
        out[1, i] = math.sqrt(v[i] + bias)
        out[2, i] = math.sqrt(theta_g[i])
        out[3, i] = math.sqrt(dot[i])
        out[4, i] = math.sqrt(p[i])
        out[5, i] = math.sqrt(r[i])
        out[6, i] = math.sqrt(p[i] + r[i])
    return out
