"""One pass over the n1·n2 entries for the deficit bookkeeping of a layer (numba).

Given the activation's deficits D = σ_w²(√(V_aV_b) − E[φφ]) and Ḋ = σ_w²(√(W_aW_b) −
E[φ'φ']) (each one fused ufunc pass), :func:`core.kernels.next_layer` in the non-linear
regime needs E_Σ' = D + bias mismatch and E_Θ' = E_Σ' + √(Σ̇_aaΣ̇_bb) E_Θ + Θ_ab Ḋ + NTK
mismatch, each part at its own power-of-two exponent. In numpy that is ~40 passes with
temporaries over n1·n2 arrays; here it is one (the reason for numba).
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
    for a in numba.prange(n1):
        for b in range(n2):
            gap = 0.0
            if bias > 0.0:
                diff = math.sqrt(v1[a]) - math.sqrt(v2[b])
                gap = (
                    bias
                    * diff
                    * diff
                    / (math.sqrt((v1[a] + bias) * (v2[b] + bias)) + math.sqrt(v1[a] * v2[b]) + bias)
                )
            es = d_phi[a, b] + gap
            e_sigma[a, b] = es
            theta_ab = math.sqrt(theta_g1[a]) * math.sqrt(theta_g2[b]) - theta_e[a, b] * f_e
            total = (
                es * f_sigma
                + math.sqrt(dot1[a] * dot2[b]) * theta_e[a, b] * f_theta_e
                + theta_ab * d_dphi[a, b] * f_theta
            )
            if mismatch:
                cross = math.sqrt(p1[a] * r2[b]) - math.sqrt(p2[b] * r1[a])
                den = (
                    math.sqrt((p1[a] + r1[a]) * (p2[b] + r2[b]))
                    + math.sqrt(p1[a] * p2[b])
                    + math.sqrt(r1[a] * r2[b])
                )
                if den > 0.0:
                    total += cross * cross / den
            e_theta[a, b] = max(total, 0.0)
    return e_sigma, e_theta
