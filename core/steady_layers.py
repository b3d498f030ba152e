"""Deep layers at the fixed point, compiled: the recursion once Σ's diagonal has settled.

After a few dozen to a few hundred layers Σ's diagonal reaches its fixed point exactly (to
the last bit) and 1 − c has underflowed into the linear regime of :mod:`core.kernels`
(deficits propagated by their leading terms). From then on every layer is the same map:

    E_Σ ← κ ⊙ E_Σ,                     κ = σ_w² a / √(q_a q_b)        (a: small-δ slope)
    E_Σ̇ = σ_w² b (E_Σ / √(q_a q_b))^p   at the exponent p·t_Σ
    Θ_aa ← Σ_aa + Σ̇_aa Θ_aa,            E_Θ ← E_Σ + √(Σ̇_aaΣ̇_bb) E_Θ + Θ_ab E_Σ̇

with constant κ, b, p and diagonals. In the chaotic phase Σ (diagonal and deficit) itself
reaches a bitwise fixed point ("frozen": E_Σ and E_Σ̇ constant, the NTK norm-mismatch term
kept). Either way the loop over the remaining layers runs in numba
(no Python per layer): depth 10⁵ costs milliseconds instead of a minute. It performs
exactly the operations of :func:`core.kernels.next_layer` in that regime, with the same
power-of-two renormalisations.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from core.activations.base import Array
from core.deficits import DEFICIT_LIMIT, DIAGONAL_LIMIT


@numba.njit(cache=True)
def _normalised(values: Array, exponent: int) -> tuple[Array, int]:
    top = 0.0
    for v in values.flat:
        top = max(top, abs(v))
    if top == 0.0:
        return values, min(exponent, 0)
    shift = math.frexp(top)[1]
    if abs(shift) > DEFICIT_LIMIT:
        values = values * math.ldexp(1.0, -shift)
        exponent += shift
    if exponent > 0:
        values = values * math.ldexp(1.0, exponent)
        exponent = 0
    return values, exponent


@numba.njit(cache=True)
def _shifted(values: Array, exponent: int) -> Array:
    """values·2^exponent (zero below the float64 range)."""
    if exponent < -1100:
        return np.zeros_like(values)
    return values * math.ldexp(1.0, exponent)


@numba.njit(cache=True)
def steady_layers(
    count: int,
    sigma_g1: Array,
    sigma_g2: Array,
    sigma_e: Array,
    sigma_s: int,
    sigma_t: int,
    kappa: Array,
    jump: Array,
    half_power: bool,
    dot1: Array,
    dot2: Array,
    frozen: bool,
    frozen_dphi: Array,
    frozen_t_dphi: int,
    theta_g1: Array,
    theta_g2: Array,
    theta_e: Array,
    theta_s: int,
    theta_t: int,
) -> tuple[Array, int, Array, Array, Array, int, int]:
    """Advance ``count`` layers; returns (Σ deficit, t_Σ, Θ g1, g2, deficit, s_Θ, t_Θ)."""
    root = np.sqrt(sigma_g1).reshape(-1, 1) * np.sqrt(sigma_g2).reshape(1, -1)
    dot_root = np.sqrt(dot1).reshape(-1, 1) * np.sqrt(dot2).reshape(1, -1)
    for _ in range(count):
        # Σ̇ deficit from the current Σ deficit (before it advances)
        scaled = sigma_e / root
        if frozen:
            e_dphi, t_dphi = frozen_dphi, frozen_t_dphi
        elif half_power:
            odd = sigma_t % 2
            e_dphi = jump * np.sqrt(scaled * (2.0 if odd else 1.0))
            t_dphi = (sigma_t - odd) // 2
        else:
            e_dphi = jump * scaled
            t_dphi = sigma_t
        e_dphi, t_dphi = _normalised(e_dphi, t_dphi)
        if not frozen:
            sigma_e, sigma_t = _normalised(kappa * sigma_e, sigma_t)
        top = max(sigma_s, theta_s)
        p1 = sigma_g1 * math.ldexp(1.0, sigma_s - top)
        p2 = sigma_g2 * math.ldexp(1.0, sigma_s - top)
        r1 = dot1 * theta_g1 * math.ldexp(1.0, theta_s - top)
        r2 = dot2 * theta_g2 * math.ldexp(1.0, theta_s - top)
        theta_ab = np.sqrt(theta_g1).reshape(-1, 1) * np.sqrt(theta_g2).reshape(1, -1) - _shifted(
            theta_e, theta_t
        )
        parts = [
            _normalised(sigma_e, sigma_s + sigma_t - top),
            _normalised(dot_root * theta_e, theta_s + theta_t - top),
            _normalised(theta_ab * e_dphi, theta_s + t_dphi - top),
        ]
        if frozen:  # the norm-mismatch term of next_layer
            pr = p1.reshape(-1, 1)
            rr = r1.reshape(-1, 1)
            pc = p2.reshape(1, -1)
            rc = r2.reshape(1, -1)
            cross = np.sqrt(pr * rc) - np.sqrt(pc * rr)
            denominator = np.sqrt((pr + rr) * (pc + rc)) + np.sqrt(pr * pc) + np.sqrt(rr * rc)
            mismatch = np.where(
                denominator > 0.0, cross * cross / np.maximum(denominator, 1e-300), 0.0
            )
            parts.append(_normalised(mismatch, 0))
        exponent = -(2**30)
        for values, t in parts:
            if np.any(values != 0.0):
                exponent = max(exponent, t)
        total = np.zeros_like(sigma_e)
        if exponent > -(2**30):
            for values, t in parts:
                total = total + _shifted(values, t - exponent)
        else:
            exponent = 0
        theta_e, theta_t = _normalised(np.maximum(total, 0.0), exponent)
        theta_g1, theta_g2, theta_s = p1 + r1, p2 + r2, top
        biggest = max(theta_g1.max(), theta_g2.max())
        if biggest > 0.0:
            shift = math.frexp(biggest)[1]
            if abs(shift) > DIAGONAL_LIMIT:
                theta_g1 = theta_g1 * math.ldexp(1.0, -shift)
                theta_g2 = theta_g2 * math.ldexp(1.0, -shift)
                theta_s += shift
                theta_t -= shift
                theta_e, theta_t = _normalised(theta_e, theta_t)
    return sigma_e, sigma_t, theta_g1, theta_g2, theta_e, theta_s, theta_t
