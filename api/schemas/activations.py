"""GET /v1/activations: the registry as the API shows it."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ActivationParameter(BaseModel):
    name: str
    default: float
    lower: float | None = Field(description="smallest allowed value (inclusive); null: none")
    upper: float | None = Field(description="largest allowed value (inclusive); null: none")
    description: str


class ActivationDescription(BaseModel):
    name: str = Field(description='the value of "activation" (or its "name") in requests')
    parameters: list[ActivationParameter]
    closed_form: bool = Field(
        description="true: Gaussian expectations in closed form; false: numerical quadrature"
    )
    formula: str


class ActivationsResponse(BaseModel):
    activations: list[ActivationDescription]
