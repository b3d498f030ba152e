"""Scale-free limits at extreme variances: the log-scale of activations that are not scale-free.

A positively homogeneous activation (relu-like, identity) has E[φ(u)φ(v)] ∝ the scale of
(u, v), so its kernels carry a power-of-two scale without bound (:mod:`core.deficits`).
Others become homogeneous to float64 resolution at extreme variances
(:class:`core.activations.base.Limits`):

* q → ∞, φ − relu bounded and localised (gelu, silu, softplus): E[φ²] = q/2 + O(q^-½)
  and E[φ'²] = ½ + O(q^-½) (measured against mpmath: relative 1.9e-6·(10⁴/q)^{3/2} and
  8e-3·(10⁴/q)^{1/2} for softplus, the largest of the three), below 2^-60 past q = 2^LARGE;
* q → 0, φ(0) = 0 and φ smooth (erf, tanh, sin, gelu, silu): φ(x) = φ'(0)·x + O(x²) and
  every expectation is the linear map's to relative O(q): 2^-SMALL.

A layer whose input variances all lie past 2^LARGE (or all below 2^SMALL) runs with the
limit, an :class:`ABRelu`, and its diagonal may be rescaled: gelu deep in the chaotic phase
(q ~ 10^1000) and erf in the ordered phase with σ_b² = 0 (q ~ 10^-1000) stay finite. Near
the large limit the deficits are exact relative to the diagonals' scale (normwise) rather
than to themselves: for near-duplicate pairs (q·δ ≲ 1) the smooth activation's deficit
differs from relu's by O(q^-½) of the diagonal.
"""

from __future__ import annotations

import math

import numpy as np

from core.activations import Activation
from core.activations.base import Array
from core.activations.closed_forms import ABRelu

#: binary exponent past which an activation with a large-variance limit runs with it
LARGE = 120
#: binary exponent below which an activation with a small-variance limit runs with it
SMALL = -120
#: the variances whose binary exponent is below SMALL: those below 2^(SMALL − 1)
SMALL_VARIANCE = math.ldexp(1.0, SMALL - 1)


def variance_exponents(g1: Array, g2: Array, scale: int) -> tuple[float, float]:
    """(smallest, largest) binary exponent of the variances (g1, g2)·2^scale (0 → −∞;
    any inf or NaN → (−∞, ∞), where no limit applies)."""
    values = np.concatenate([g1, g2])
    low, high = float(values.min()), float(values.max())
    if not (math.isfinite(low) and math.isfinite(high)):
        return -math.inf, math.inf
    return (
        math.frexp(low)[1] + scale if low > 0.0 else -math.inf,
        math.frexp(high)[1] + scale if high > 0.0 else -math.inf,
    )


def layer_activation(activation: Activation, low: float, high: float) -> Activation:
    """The activation a layer runs with when its input variances span binary exponents
    [low, high]: the scale-free limit when they all lie past it, else ``activation``."""
    limits = activation.limits
    if limits.large is not None and low > LARGE:
        a, b = limits.large
        return ABRelu(f"{activation.name} (q > 2^{LARGE}: its limit)", {}, a=a, b=b)
    if limits.small is not None and high < SMALL:
        slope = limits.small
        return ABRelu(f"{activation.name} (q < 2^{SMALL}: its limit)", {}, a=slope, b=slope)
    return activation
