"""Gauss–Hermite rules for expectations over z ~ N(0, 1).

``gauss_hermite(n)`` returns nodes x and weights w with Σ w f(x) ≈ E[f(z)], exact for
polynomials of degree ≤ 2n − 1 (probabilists' Hermite, weights normalised to sum 1).
"""

from __future__ import annotations

from functools import cache

import numpy as np
from scipy.special import roots_hermitenorm

from core.activations.base import Array


@cache
def gauss_hermite(n: int) -> tuple[Array, Array]:
    """n-point rule for E over N(0, 1); nodes ascending, weights summing to 1."""
    nodes, weights = roots_hermitenorm(n)
    weights = weights / np.sqrt(2.0 * np.pi)
    nodes.setflags(write=False)
    weights.setflags(write=False)
    return nodes, weights
