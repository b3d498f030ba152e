"""The activation registry: name → entry; adding an activation is one entry.

``get_activation("relu")`` or ``get_activation({"name": "leaky_relu", "alpha": 0.1})``
returns an :class:`Activation`; ``list_activations()`` describes every entry for
GET /v1/activations. Unknown names or parameters raise
:class:`core.errors.UnknownActivationError` naming what is valid.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from core.activations import smooth
from core.activations.base import Activation, ActivationInfo, Limits, ParameterInfo
from core.activations.closed_forms import ABRelu, Cos, Erf, Identity, Sin
from core.activations.gelu import Gelu
from core.activations.large_variance import SigmoidLarge, TanhLarge
from core.activations.numerical import Numerical
from core.activations.smooth_relu_large import SILU, SOFTPLUS, SmoothReluLarge
from core.errors import UnknownActivationError

__all__ = [
    "Activation",
    "ActivationInfo",
    "ParameterInfo",
    "get_activation",
    "list_activations",
]


@dataclass(frozen=True)
class _Entry:
    build: Callable[[dict[str, float]], Activation]
    parameters: tuple[ParameterInfo, ...]
    closed_form: bool
    formula: str


_ALPHA = ParameterInfo("alpha", 0.01, -1.0, 1.0, "slope for x < 0")
_A = ParameterInfo("a", 0.0, -10.0, 10.0, "slope for x < 0")
_B = ParameterInfo("b", 1.0, -10.0, 10.0, "slope for x >= 0")

#: φ → relu as q → ∞ (φ − relu bounded and localised)
_RELU_ABOVE = (0.0, 1.0)

_REGISTRY: dict[str, _Entry] = {
    "identity": _Entry(lambda p: Identity("identity", p), (), True, "φ(x) = x"),
    "relu": _Entry(lambda p: ABRelu("relu", p, a=0.0, b=1.0), (), True, "φ(x) = max(x, 0)"),
    "leaky_relu": _Entry(
        lambda p: ABRelu("leaky_relu", p, a=p["alpha"], b=1.0),
        (_ALPHA,),
        True,
        "φ(x) = x for x ≥ 0, alpha·x for x < 0",
    ),
    "abs": _Entry(lambda p: ABRelu("abs", p, a=-1.0, b=1.0), (), True, "φ(x) = |x|"),
    "abrelu": _Entry(
        lambda p: ABRelu("abrelu", p, a=p["a"], b=p["b"]),
        (_A, _B),
        True,
        "φ(x) = b·x for x ≥ 0, a·x for x < 0",
    ),
    "erf": _Entry(
        lambda p: Erf("erf", p, limits=Limits(small=2.0 / math.sqrt(math.pi))),
        (),
        True,
        "φ(x) = erf(x)",
    ),
    "sin": _Entry(
        lambda p: Sin("sin", p, limits=Limits(small=1.0)),
        (),
        True,
        "φ(x) = sin(x); E[φ(u)φ(v)] = e^(−(q1+q2)/2)·sinh(q12)",
    ),
    "cos": _Entry(
        lambda p: Cos("cos", p), (), True, "φ(x) = cos(x); E[φ(u)φ(v)] = e^(−(q1+q2)/2)·cosh(q12)"
    ),
    "tanh": _Entry(
        lambda p: Numerical(
            "tanh",
            p,
            False,
            smooth.QUADRATURE_LARGE,
            *smooth.TANH,
            large=TanhLarge(),
            limits=Limits(small=1.0),
        ),
        (),
        False,
        "φ(x) = tanh(x)",
    ),
    "sigmoid": _Entry(
        lambda p: Numerical(
            "sigmoid", p, False, smooth.QUADRATURE_LARGE, *smooth.SIGMOID, large=SigmoidLarge()
        ),
        (),
        False,
        "φ(x) = 1/(1 + e^(−x))",
    ),
    "softplus": _Entry(
        lambda p: Numerical(
            "softplus",
            p,
            False,
            smooth.QUADRATURE_SMOOTH_RELU,
            *smooth.SOFTPLUS,
            large=SmoothReluLarge(SOFTPLUS),
            limits=Limits(large=_RELU_ABOVE),
        ),
        (),
        False,
        "φ(x) = log(1 + e^x)",
    ),
    "silu": _Entry(
        lambda p: Numerical(
            "silu",
            p,
            False,
            smooth.QUADRATURE_SMOOTH_RELU,
            *smooth.SILU,
            large=SmoothReluLarge(SILU),
            limits=Limits(large=_RELU_ABOVE, small=0.5),
        ),
        (),
        False,
        "φ(x) = x/(1 + e^(−x)) (swish)",
    ),
    "gelu": _Entry(
        lambda p: Gelu("gelu", p, limits=Limits(large=_RELU_ABOVE, small=0.5)),
        (),
        True,
        "φ(x) = x·Φ(x), Φ the standard normal CDF (exact gelu, not the tanh approximation)",
    ),
}


def get_activation(spec: str | Mapping[str, Any] | Activation) -> Activation:
    """The activation named by ``spec`` (a name, or a mapping with "name" and parameters)."""
    if isinstance(spec, Activation):
        return spec
    name: object
    if isinstance(spec, str):
        name, given = spec, {}
    elif isinstance(spec, Mapping):
        name = spec.get("name")
        given = {k: v for k, v in spec.items() if k != "name"}
    else:
        raise UnknownActivationError(
            f"activation must be a name or an object with a 'name', got {type(spec).__name__}",
            field="activation",
        )
    entry = _REGISTRY.get(name) if isinstance(name, str) else None
    if entry is None:
        valid = ", ".join(sorted(_REGISTRY))
        raise UnknownActivationError(
            f"unknown activation {name!r}; valid names: {valid}", field="activation"
        )
    return entry.build(_parameters(str(name), entry, given))


def list_activations() -> list[ActivationInfo]:
    """Every registry entry: name, parameters (default, bounds), closed form, formula."""
    return [
        ActivationInfo(name, list(entry.parameters), entry.closed_form, entry.formula)
        for name, entry in _REGISTRY.items()
    ]


def _parameters(name: str, entry: _Entry, given: dict[str, Any]) -> dict[str, float]:
    known = {p.name: p for p in entry.parameters}
    unknown = sorted(set(given) - set(known))
    if unknown:
        expected = ", ".join(known) or "none"
        raise UnknownActivationError(
            f"activation {name!r} has no parameter(s) {', '.join(unknown)}; "
            f"its parameters: {expected}",
            field="activation",
        )
    values: dict[str, float] = {}
    for p in entry.parameters:
        value = given.get(p.name, p.default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise UnknownActivationError(
                f"parameter {p.name!r} of {name!r} must be a number, got {value!r}",
                field="activation",
            )
        value = float(value)
        if not (math.isfinite(value) and p.lower <= value <= p.upper):
            raise UnknownActivationError(
                f"parameter {p.name!r} of {name!r} must lie in [{p.lower}, {p.upper}], "
                f"got {value!r}",
                field="activation",
            )
        values[p.name] = value
    return values
