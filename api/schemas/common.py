"""Building blocks shared by the v1 request schemas: finite numbers, matrices, networks.

Every constraint lives in the JSON schema where JSON Schema can say it (bounds, lengths,
integer types, the activation registry), so generated clients and fuzzers see it; what it
cannot say (rectangular arrays, matching dimensions) is checked by validators that name
the field and say what to change.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, Self

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    RootModel,
    WithJsonSchema,
    model_validator,
)
from pydantic.functional_validators import AfterValidator, PlainValidator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from core.activations import get_activation, list_activations
from core.errors import UnknownActivationError

MAX_DEPTH = 100_000
"""Absolute depth cap of the schema; the configured ``max_depth`` may only lower it."""
MAX_COORDINATE = 1e6
"""Bound on |input coordinate| and |target|: keeps x·x'/d₀ and y far inside float64."""
MAX_VARIANCE = 1e3
"""Bound on σ_w², σ_b²: the order-to-chaos transition of every registered activation lies
far below it."""
MIN_WEIGHT_VARIANCE = 1e-6
"""Lower bound on σ_w²: far below any order-to-chaos transition; smaller values (down to
denormals) only push kernels and rates towards the float64 underflow."""
MAX_GRID_AXIS = 1000

STRICT = ConfigDict(extra="forbid")


def request_config(*examples: dict[str, Any]) -> ConfigDict:
    """Config of a request model: unknown fields refused; realistic examples in the schema."""
    return ConfigDict(extra="forbid", json_schema_extra={"examples": list(examples)})


PositiveVariance = Annotated[
    float, Field(strict=True, allow_inf_nan=False, ge=MIN_WEIGHT_VARIANCE, le=MAX_VARIANCE)
]
NonNegativeVariance = Annotated[
    float, Field(strict=True, allow_inf_nan=False, ge=0, le=MAX_VARIANCE)
]
Coordinate = Annotated[
    float, Field(strict=True, allow_inf_nan=False, ge=-MAX_COORDINATE, le=MAX_COORDINATE)
]
FiniteDepth = Annotated[int, Field(strict=True, ge=1, le=MAX_DEPTH)]
Infinity = Annotated[Literal["inf"], WithJsonSchema({"type": "string", "enum": ["inf"]})]
"""The string "inf" (an infinite depth or time), as a one-value enum: generated clients
handle an enum in a union with numbers, where some mishandle ``const``."""


def rectangular(rows: list[list[float]]) -> list[list[float]]:
    """``rows`` if every row has the length of the first; a ``ragged_array`` error otherwise."""
    width = len(rows[0])
    for index, row in enumerate(rows):
        if len(row) != width:
            raise PydanticCustomError(
                "ragged_array",
                "rows must all have the same length: row {index} has {got} entries but row 0 "
                "has {width}; send a rectangular [n][d] array",
                {"index": index, "got": len(row), "width": width},
            )
    return rows


Matrix = Annotated[
    list[Annotated[list[Coordinate], Field(min_length=1)]],
    Field(min_length=1, description="[n][d] row-major: one row per input point"),
    AfterValidator(rectangular),
]
"""A non-empty rectangular [n][d] array of finite coordinates."""


class _ActivationSchema:
    """JSON schema of an activation spec, generated from the registry (names and bounds)."""

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return activation_json_schema()


def activation_json_schema() -> dict[str, Any]:
    """A name from the registry, or an object ``{"name": ..., <parameter>: number, ...}``."""
    infos = list_activations()
    objects = []
    for info in infos:
        properties: dict[str, Any] = {"name": {"type": "string", "const": info.name}}
        for parameter in info.parameters:
            prop: dict[str, Any] = {"type": "number", "default": parameter.default}
            if math.isfinite(parameter.lower):
                prop["minimum"] = parameter.lower
            if math.isfinite(parameter.upper):
                prop["maximum"] = parameter.upper
            if parameter.description:
                prop["description"] = parameter.description
            properties[parameter.name] = prop
        objects.append(
            {
                "type": "object",
                "title": f"{info.name} activation",
                "properties": properties,
                "required": ["name"],
                "additionalProperties": False,
            }
        )
    names = [info.name for info in infos]
    return {
        "title": "Activation",
        "description": "an activation name, or an object with its name and parameters; "
        "GET /v1/activations lists them",
        "examples": ["relu", {"name": "leaky_relu", "alpha": 0.1}],
        "oneOf": [{"type": "string", "enum": names}, *objects],
    }


def _canonical_activation(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        for key, parameter in value.items():
            if key == "name":
                continue
            if isinstance(parameter, bool) or not isinstance(parameter, int | float):
                raise PydanticCustomError(
                    "activation_parameter", "parameter '{key}' must be a number", {"key": key}
                )
            if not math.isfinite(parameter):
                raise PydanticCustomError(
                    "activation_parameter", "parameter '{key}' must be finite", {"key": key}
                )
    elif not isinstance(value, str):
        raise PydanticCustomError(
            "activation_type",
            'give an activation name like "relu" or an object like '
            '{"name": "leaky_relu", "alpha": 0.1}',
        )
    try:
        activation = get_activation(value)
    except UnknownActivationError as exc:
        raise PydanticCustomError(
            "unknown_activation", "{detail}", {"detail": exc.detail}
        ) from None
    return {"name": activation.name, **{k: float(v) for k, v in activation.params.items()}}


ActivationSpec = Annotated[
    dict[str, Any], PlainValidator(_canonical_activation), _ActivationSchema()
]
"""Validated against the registry; canonical form ``{"name": ..., **all parameters}``."""


class Activation(RootModel[dict[str, Any]]):
    """An activation, by name or as an object with parameters (one OpenAPI component)."""

    root: ActivationSpec


class NetworkBase(BaseModel):
    model_config = STRICT

    activation: Activation
    sigma_w2: PositiveVariance = Field(description="weight variance σ_w² of hidden layers")
    sigma_b2: NonNegativeVariance = Field(description="bias variance σ_b² of hidden layers")
    input_sigma_w2: PositiveVariance | None = Field(
        default=None, description="σ_w² of the first layer (default: sigma_w2)"
    )
    input_sigma_b2: NonNegativeVariance | None = Field(
        default=None, description="σ_b² of the first layer (default: sigma_b2)"
    )


class Network(NetworkBase):
    """A deep fully-connected network of finite depth (MATH.md §1)."""

    depth: FiniteDepth = Field(description="number of affine layers L")


class NetworkAnyDepth(NetworkBase):
    """A deep fully-connected network whose depth may be "inf" (MATH.md §6)."""

    depth: FiniteDepth | Infinity = Field(
        description='number of affine layers L, or "inf" for the infinite-depth limit'
    )


class _Range(BaseModel):
    model_config = STRICT

    start: float
    stop: float
    num: int = Field(strict=True, ge=1, le=MAX_GRID_AXIS, description="number of grid points")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.stop < self.start or (self.stop == self.start and self.num > 1):
            raise PydanticCustomError(
                "range_order", "stop must be greater than start (or equal to it with num = 1)"
            )
        return self

    def axis(self) -> list[float]:
        """The axis, linspace(start, stop, num)."""
        return [float(v) for v in np.linspace(self.start, self.stop, self.num)]


class SigmaW2Range(_Range):
    """An evenly spaced σ_w² axis: linspace(start, stop, num)."""

    start: PositiveVariance
    stop: PositiveVariance


class SigmaB2Range(_Range):
    """An evenly spaced σ_b² axis: linspace(start, stop, num)."""

    start: NonNegativeVariance
    stop: NonNegativeVariance
