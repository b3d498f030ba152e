"""φ, φ', φ'' of the smooth activations integrated numerically (vectorised, overflow-free)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.special import expit

from core.activations.base import Array

#: softplus and silu: the Mehler series below variance 32, above it a split φ = x·Φ(κx) + r
QUADRATURE_SMOOTH_RELU = (
    "Mehler series, Hermite coefficients by trapezoidal rules sized to each variance; for "
    "variances above 32 a split x·Φ(κx) + r (gelu's closed forms for the first) with 1-D and "
    "2-D rules in the pre-activations"
)
#: tanh and sigmoid: the Mehler series below the threshold variance (16 for tanh, 64 for
#: sigmoid), product trapezoidal rules in the pre-activations above it
QUADRATURE_LARGE = (
    "Mehler series, Hermite coefficients by trapezoidal rules sized to each variance; for "
    "variances above 16 (tanh; sigmoid: 64) an erf split with 1-D and 2-D trapezoidal rules "
    "in the pre-activations"
)


def _tanh_1(x: Array) -> Array:
    t = np.tanh(x)
    return 1.0 - t * t


def _tanh_2(x: Array) -> Array:
    t = np.tanh(x)
    return -2.0 * t * (1.0 - t * t)


def _sigmoid_1(x: Array) -> Array:
    s = expit(x)
    return s * expit(-x)


def _sigmoid_2(x: Array) -> Array:
    s, r = expit(x), expit(-x)
    return s * r * (r - s)


def _softplus(x: Array) -> Array:
    return np.logaddexp(0.0, x)


def _silu(x: Array) -> Array:
    return x * expit(x)


def _silu_1(x: Array) -> Array:
    s, r = expit(x), expit(-x)
    return s + x * s * r


def _silu_2(x: Array) -> Array:
    s, r = expit(x), expit(-x)
    return s * r * (2.0 + x * (r - s))


def _tanh_squares(x: Array) -> tuple[Array, Array]:
    t = np.tanh(x)
    return t**2, (1.0 - t * t) ** 2


def _sigmoid_squares(x: Array) -> tuple[Array, Array]:
    s = expit(x)
    return s**2, (s * expit(-x)) ** 2


TANH = (np.tanh, _tanh_1, _tanh_2)
SIGMOID = (expit, _sigmoid_1, _sigmoid_2)
SOFTPLUS = (_softplus, expit, _sigmoid_1)
SILU = (_silu, _silu_1, _silu_2)

#: (φ, φ') → x ↦ (φ(x)², φ'(x)²) from one evaluation of φ, the same floating-point operations
#: as squaring φ(x) and φ'(x) separately (V and W of a variance from one pass)
SQUARES: dict[tuple[object, object], Callable[[Array], tuple[Array, Array]]] = {
    (np.tanh, _tanh_1): _tanh_squares,
    (expit, _sigmoid_1): _sigmoid_squares,
}
