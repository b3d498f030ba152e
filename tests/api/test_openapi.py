"""The OpenAPI document: frozen in openapi/openapi.json, readable, with valid examples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest

from api.schemas import REQUEST_MODELS
from service.app import create_app
from service.cli import openapi_text
from service.settings import Settings

FROZEN = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"
OPERATIONS = {
    ("get", "/v1/activations"): "list_activations",
    ("post", "/v1/fixed-points"): "get_fixed_points",
    ("post", "/v1/phase-diagram"): "compute_phase_diagram",
    ("post", "/v1/kernels"): "compute_kernels",
    ("post", "/v1/spectra"): "compute_spectra",
    ("post", "/v1/predictions"): "compute_predictions",
}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return create_app(Settings(workers=1)).openapi()


def test_frozen_spec_is_current() -> None:
    assert FROZEN.read_text() == openapi_text(), (
        "openapi/openapi.json is stale: run `deepkernel openapi --output openapi/openapi.json`"
    )


def test_operation_ids_are_readable(spec: dict[str, Any]) -> None:
    paths = spec["paths"]
    for (method, path), operation_id in OPERATIONS.items():
        assert paths[path][method]["operationId"] == operation_id


def test_errors_are_documented_as_problem_json(spec: dict[str, Any]) -> None:
    paths = spec["paths"]
    for method, path in OPERATIONS:
        if method != "post":
            continue
        responses = paths[path][method]["responses"]
        for status in ("400", "406", "413", "422", "503", "504"):
            content = responses[status]["content"]
            assert content["application/problem+json"]["schema"] == {
                "$ref": "#/components/schemas/Problem"
            }


def examples(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for kind, model in REQUEST_MODELS.items():
        component = spec["components"]["schemas"][model.__name__]
        assert len(component["examples"]) >= 1, kind
        out.extend((kind, example) for example in component["examples"])
    return out


def test_every_example_validates_against_the_schema_and_the_model(spec: dict[str, Any]) -> None:
    for kind, example in examples(spec):
        model = REQUEST_MODELS[kind]
        root = {"$ref": f"#/components/schemas/{model.__name__}", **spec}
        jsonschema_rs.Draft202012Validator(root).validate(example)
        model.model_validate(example)


@pytest.mark.anyio
async def test_every_example_computes(spec: dict[str, Any], api_client: httpx.AsyncClient) -> None:
    for kind, example in examples(spec):
        response = await api_client.post(f"/v1/{kind}", json=example)
        assert response.status_code == 200, (kind, response.text)
