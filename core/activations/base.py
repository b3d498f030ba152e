"""The activation interface: Gaussian expectations of φ and φ' (MATH.md §2).

Conventions, for every method (elementwise, broadcasting float64 arrays):

* ``z ~ N(0, 1)``; ``(u, v) ~ N(0, [[q1, q12], [q12, q2]])``; ``c = q12 / √(q1 q2)``.
* ``delta = 1 − c`` is the *cosine deficit*, in [0, 2]. The deep recursion carries it
  directly because near c = 1 (every entry after a few ordered layers) ``1 − c`` computed
  from ``c`` has lost all its digits (MATH.md §7).
* The *deficit forms* return the Cauchy–Schwarz gap of an expectation, computed without
  cancellation when ``delta → 0`` and ``q1 → q2``:

      correlation_deficit(q1, q2, delta)            = √(V(q1) V(q2)) − E[φ(u) φ(v)]
      derivative_correlation_deficit(q1, q2, delta) = √(W(q1) W(q2)) − E[φ'(u) φ'(v)]

  with V(q) = E[φ(√q z)²] and W(q) = E[φ'(√q z)²]; both gaps are ≥ 0.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numba
import numpy as np
from numpy.typing import ArrayLike, NDArray

Array = NDArray[np.float64]


@dataclass(frozen=True)
class ParameterInfo:
    """One numeric parameter of an activation: default and closed bounds."""

    name: str
    default: float
    lower: float
    upper: float
    description: str = ""


@dataclass(frozen=True)
class ActivationInfo:
    """What GET /v1/activations lists for one registry entry."""

    name: str
    parameters: list[ParameterInfo]
    closed_form: bool
    formula: str

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "parameters": [
                {
                    "name": p.name,
                    "default": p.default,
                    "lower": p.lower,
                    "upper": p.upper,
                    "description": p.description,
                }
                for p in self.parameters
            ],
            "closed_form": self.closed_form,
            "formula": self.formula,
        }


@dataclass(frozen=True)
class Limits:
    """φ's positively homogeneous limits at extreme variances (used by :mod:`core.asymptotes`).

    ``large`` (a, b): φ(√q z)/√q → a·z (z < 0), b·z (z ≥ 0) as q → ∞, with φ minus that
    limit bounded and localised (gelu, silu, softplus: relu, (0, 1)); ``small`` φ'(0), for
    φ(0) = 0 and φ smooth at 0: φ(x) = φ'(0)·x + O(x²) as q → 0. None: no such limit.
    """

    large: tuple[float, float] | None = None
    small: float | None = None


@dataclass(frozen=True, eq=False)
class Activation(ABC):
    """An activation φ with the Gaussian expectations the kernel recursion needs.

    ``name`` and ``params`` identify it (``params`` are the registry parameters, e.g.
    ``{"alpha": 0.1}``); ``closed_form`` says whether the expectations are analytic or
    numerical (then ``quadrature`` names the rule); ``limits`` its scale-free limits.
    """

    name: str
    params: dict[str, float] = field(default_factory=dict)

    closed_form: bool = True
    quadrature: str = "closed form"
    limits: Limits = field(default=Limits(), kw_only=True, repr=False)

    def spec(self) -> dict[str, object]:
        """The canonical plain-data spec: ``{"name": ..., **params}``."""
        return {"name": self.name, **self.params}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Activation) and self.spec() == other.spec()

    def __hash__(self) -> int:
        return hash((self.name, tuple(sorted(self.params.items()))))

    @abstractmethod
    def variance(self, q: ArrayLike) -> Array:
        """V(q) = E[φ(√q z)²]."""

    @abstractmethod
    def variance_slope(self, q: ArrayLike) -> Array:
        """dV/dq = E[φ'(√q z)² + φ(√q z) φ''(√q z)]."""

    @abstractmethod
    def derivative_variance(self, q: ArrayLike) -> Array:
        """W(q) = E[φ'(√q z)²]."""

    @abstractmethod
    def correlation(self, q1: ArrayLike, q2: ArrayLike, q12: ArrayLike) -> Array:
        """E[φ(u) φ(v)]."""

    @abstractmethod
    def derivative_correlation(self, q1: ArrayLike, q2: ArrayLike, q12: ArrayLike) -> Array:
        """E[φ'(u) φ'(v)]."""

    @abstractmethod
    def correlation_deficit(self, q1: ArrayLike, q2: ArrayLike, delta: ArrayLike) -> Array:
        """√(V(q1) V(q2)) − E[φ(u) φ(v)] at cosine deficit ``delta`` = 1 − c (≥ 0)."""

    @abstractmethod
    def derivative_correlation_deficit(
        self, q1: ArrayLike, q2: ArrayLike, delta: ArrayLike
    ) -> Array:
        """√(W(q1) W(q2)) − E[φ'(u) φ'(v)] at cosine deficit ``delta`` = 1 − c (≥ 0)."""

    @abstractmethod
    def small_deficit_slopes(self, q1: ArrayLike, q2: ArrayLike) -> tuple[Array, Array, float]:
        """(a, b, p): as δ → 0 the deficits grow from their δ = 0 values as a·δ and b·δ^p.

        correlation_deficit(q1, q2, δ) = correlation_deficit(q1, q2, 0) + a δ + o(δ), with
        a = √(q1 q2)·E[φ'(u) φ'(v)] at c = 1 (Price's theorem); the derivative deficit grows
        as b δ^p: p = 1 for smooth φ (b = √(q1q2)·E[φ''(u)φ''(v)] at c = 1), p = ½ where φ'
        jumps (relu: θ ≈ √(2δ)). The deep recursion uses these once δ underflows float64.
        """


# --- named numerical guards, shared by all activations -------------------------------


def as_array(x: ArrayLike) -> Array:
    """float64 view of ``x`` (no copy when already float64)."""
    return np.asarray(x, dtype=np.float64)


def clamped_sqrt(x: ArrayLike) -> Array:
    """√max(x, 0): square root of a quantity that is ≥ 0 up to rounding."""
    return np.sqrt(np.maximum(as_array(x), 0.0))


def clipped_cosine_deficits(
    q1: ArrayLike, q2: ArrayLike, q12: ArrayLike
) -> tuple[Array, Array, Array]:
    """(c, 1 − c, 1 + c) with c = q12/√(q1 q2) clipped to [−1, 1].

    ``1 ∓ c`` are formed as (√(q1 q2) ∓ q12)/√(q1 q2) so that no digit is lost beyond the
    one rounding of ``q12``. A zero variance (a constant pre-activation) gives c = 0: the
    expectations do not depend on c then.
    """
    q1, q2, q12 = np.broadcast_arrays(as_array(q1), as_array(q2), as_array(q12))
    root = np.sqrt(np.maximum(q1 * q2, 0.0))
    safe = np.where(root > 0.0, root, 1.0)
    c = np.clip(np.where(root > 0.0, q12 / safe, 0.0), -1.0, 1.0)
    minus = np.clip(np.where(root > 0.0, (root - q12) / safe, 1.0), 0.0, 2.0)
    plus = np.clip(np.where(root > 0.0, (root + q12) / safe, 1.0), 0.0, 2.0)
    return c, minus, plus


@numba.vectorize(["float64(float64, float64)"], cache=True)
def angle_from_deficits(minus: float, plus: float) -> float:
    """θ = arccos c from 1 − c and 1 + c without the √ε loss of arccos near c = ±1.

    θ = 2 arcsin(√((1 − c)/2)) for c ≥ 0 and π − 2 arcsin(√((1 + c)/2)) for c < 0.
    (A numba ufunc: one pass, no temporaries; broadcasts like numpy.)
    """
    if minus <= 1.0:
        return 2.0 * math.asin(math.sqrt(min(max(minus, 0.0), 2.0) / 2.0))
    return math.pi - 2.0 * math.asin(math.sqrt(min(max(plus, 0.0), 2.0) / 2.0))


#: S(θ)/θ³ = Σ_{k≥1} (−1)^{k+1} 2k θ^{2k−2} / (2k+1)!  (Horner coefficients, k = 1 … 12)
_S_SERIES = np.array([(-1.0) ** (k + 1) * 2 * k / math.factorial(2 * k + 1) for k in range(1, 13)])


@numba.njit(inline="always")  # compiled into its callers (no cache entry of its own)
def s_series(theta: float) -> float:
    """S(θ) = sin θ − θ cos θ by its series (12 terms: 1e-17 relative at θ = 1)."""
    t2 = theta * theta
    acc = 0.0
    for k in range(_S_SERIES.size - 1, -1, -1):
        acc = acc * t2 + _S_SERIES[k]
    return acc * t2 * theta


@numba.njit(inline="always")  # compiled into its callers (no cache entry of its own)
def sin_minus_theta_cos_at(theta: float, delta: float) -> float:
    """S(θ) = sin θ − θ cos θ at θ = arccos(1 − δ): by its series below θ = 1, else from
    sin θ = √(δ(2 − δ)) and cos θ = 1 − δ (no cancellation there: S ≥ 0.3). Both are
    formed and one selected (branch-free)."""
    series = s_series(theta)
    closed = math.sqrt(delta * (2.0 - delta)) - theta * (1.0 - delta)
    return closed if theta >= 1.0 else series


@numba.vectorize(["float64(float64)"], cache=True)
def sin_minus_theta_cos(theta: float) -> float:
    """S(θ) = sin θ − θ cos θ ≥ 0 on [0, π], by its series below θ = 1 (no cancellation).

    S(θ) = Σ_{k≥1} (−1)^{k+1} 2k θ^{2k+1} / (2k+1)!; 12 terms reach 1e-17 relative at θ=1.
    """
    if theta >= 1.0:
        return math.sin(theta) - theta * math.cos(theta)
    return s_series(theta)
