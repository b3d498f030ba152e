"""The angle of a point of the upper half-plane, inlined into compiled loops.

erf's exact recursion (:func:`core.activations.closed_forms.erf_deficit_from`) takes one
arctangent per entry and layer; glibc's ``atan2``, an out-of-line call that is correctly
rounded, costs about as much as the rest of that entry's layer. :func:`upper_angle` is
Cephes' ``atan`` (S. L. Moshier: a rational approximation of degree 4/5 on
|t| ≤ tan(π/8) after reduction by π/4 or π/2, relative error below 2e-16 on its own) with
atan2's quadrant logic for y ≥ 0: at most 2 ulp from the correctly rounded angle
(tests/core/test_arctangent.py, against mpmath), compiled into its callers and written
with selects instead of branches, so that it vectorizes (:mod:`core.lanes`).
"""

from __future__ import annotations

import math

import numba

#: tan(3π/8)
_TAN_3PI_8 = 2.41421356237309504880
#: below this ratio y/x no reduction by π/4 (Cephes' split)
_NO_REDUCTION = 0.66
#: π/2 − fl(π/2): the bits of π/2 that fl(π/2) drops
_PI_2_LOW = 6.123233995736765886130e-17
_P = (
    -8.750608600031904122785e-1,
    -1.615753718733365076637e1,
    -7.500855792314704667340e1,
    -1.228866684490136173410e2,
    -6.485021904942025371773e1,
)
_Q = (  # leading coefficient 1
    2.485846490142306297962e1,
    1.650270098316988542046e2,
    4.328810604912902668951e2,
    4.853903996359136964868e2,
    1.945506571482613964425e2,
)


@numba.njit(inline="always")  # compiled into its callers (no cache entry of its own)
def _small_atan(t: float) -> float:
    """atan t for |t| ≤ tan(π/8) + a rounding (Cephes' rational form t + t·z·P(z)/Q(z))."""
    z = t * t
    p = (((_P[0] * z + _P[1]) * z + _P[2]) * z + _P[3]) * z + _P[4]
    q = ((((z + _Q[0]) * z + _Q[1]) * z + _Q[2]) * z + _Q[3]) * z + _Q[4]
    return t + t * (z * p / q)


@numba.njit(inline="always")  # compiled into its callers (no cache entry of its own)
def upper_angle(y: float, x: float) -> float:
    """atan2(y, x) ∈ [0, π] for y ≥ 0 (finite; (0, 0) gives 0). Branch-free (selects), so
    that a loop over lanes of it vectorizes: one division and one rational form."""
    ax = abs(x)
    steep = y > _TAN_3PI_8 * ax  # π/2 + atan(−ax/y)
    flat = y <= _NO_REDUCTION * ax  # atan(y/ax)
    # else π/4 + atan((y − ax)/(y + ax))
    num = -ax if steep else (y if flat else y - ax)
    den = y if steep else (ax if flat else y + ax)
    base = 0.5 * math.pi if steep else (0.0 if flat else 0.25 * math.pi)
    low = _PI_2_LOW if steep else (0.0 if flat else 0.5 * _PI_2_LOW)
    angle = base + (low + _small_atan(num / (den if den > 0.0 else 1.0)))
    return (math.pi - angle) + 2.0 * _PI_2_LOW if x < 0.0 else angle


@numba.njit(inline="always")  # compiled into its callers (no cache entry of its own)
def deficit_angle(delta: float) -> float:
    """θ = arccos(1 − δ) for a cosine deficit δ ∈ [0, 2], as 2·atan2(√(δ/2), √((2 − δ)/2))
    (both arguments accurate: no √ε loss near δ = 0 or 2; branch-free)."""
    return 2.0 * upper_angle(math.sqrt(0.5 * delta), math.sqrt(0.5 * max(2.0 - delta, 0.0)))
