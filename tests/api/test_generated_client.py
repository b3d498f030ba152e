"""A Python client generated from openapi/openapi.json (openapi-python-client) works against
the app for every endpoint: the spec is complete enough for a real client."""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp

from tests.api.test_openapi import FROZEN

pytestmark = pytest.mark.anyio

PACKAGE = "deepkernel_client"
NETWORK = {"activation": "relu", "sigma_w2": 1.5, "sigma_b2": 0.1, "depth": 8}
X = [[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]]
BODIES: dict[str, dict[str, Any]] = {
    "fixed-points": {"activation": "relu", "sigma_w2": 1.5, "sigma_b2": 0.1},
    "phase-diagram": {
        "activation": "erf",
        "sigma_w2": {"start": 0.5, "stop": 2.0, "num": 4},
        "sigma_b2": {"start": 0.0, "stop": 0.2, "num": 3},
    },
    "kernels": {"network": NETWORK, "x1": X, "depths": [1, 8]},
    "spectra": {"network": NETWORK, "x": X, "depths": [2, 8], "eigenvalues": True},
    "predictions": {
        "network": NETWORK,
        "x_train": X,
        "y_train": [1.0, -1.0, 0.5],
        "x_test": [[0.8, 0.6]],
        "t": [1.0, "inf"],
    },
}


@pytest.fixture(scope="module")
def client_package(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    root = tmp_path_factory.mktemp("generated")
    config = root / "config.yaml"
    config.write_text(
        f"project_name_override: {PACKAGE}\npackage_name_override: {PACKAGE}\npost_hooks: []\n"
    )
    command = [
        str(Path(sys.executable).with_name("openapi-python-client")),
        "generate",
        "--path",
        str(FROZEN),
        "--output-path",
        str(root / PACKAGE),
        "--meta",
        "none",
        "--config",
        str(config),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


@pytest.fixture
def generated(client_package: ModuleType, api_asgi: ASGIApp) -> Any:
    transport = httpx.ASGITransport(app=api_asgi)
    client = client_package.Client(base_url="http://deepkernel")
    client.set_async_httpx_client(
        httpx.AsyncClient(transport=transport, base_url="http://deepkernel")
    )
    return client


def _module(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.{name}")


async def test_list_activations(generated: Any, api_client: httpx.AsyncClient) -> None:
    operation = _module("api.activations.list_activations")
    parsed = await operation.asyncio(client=generated)
    assert type(parsed).__name__ == "ActivationsResponse"
    assert parsed.to_dict() == (await api_client.get("/v1/activations")).json()


@pytest.mark.parametrize(
    ("kind", "operation", "request_model", "response_model"),
    [
        (
            "fixed-points",
            "fixed_points.get_fixed_points",
            "FixedPointsRequest",
            "FixedPointsResponse",
        ),
        (
            "phase-diagram",
            "phase_diagram.compute_phase_diagram",
            "PhaseDiagramRequest",
            "PhaseDiagramResponse",
        ),
        ("kernels", "kernels.compute_kernels", "KernelsRequest", "KernelsResponse"),
        ("spectra", "spectra.compute_spectra", "SpectraRequest", "SpectraResponse"),
        (
            "predictions",
            "predictions.compute_predictions",
            "PredictionsRequest",
            "PredictionsResponse",
        ),
    ],
)
async def test_every_compute_endpoint(
    generated: Any,
    api_client: httpx.AsyncClient,
    kind: str,
    operation: str,
    request_model: str,
    response_model: str,
) -> None:
    models = _module("models")
    body = getattr(models, request_model).from_dict(BODIES[kind])
    assert body.to_dict() == BODIES[kind]  # the generated model round-trips the body
    response = await _module(f"api.{operation}").asyncio_detailed(client=generated, body=body)
    assert response.status_code == 200, response.content
    assert type(response.parsed).__name__ == response_model
    direct = (await api_client.post(f"/v1/{kind}", json=BODIES[kind])).json()
    assert response.parsed.to_dict() == direct


async def test_problems_parse_as_problem(generated: Any) -> None:
    models = _module("models")
    body = models.FixedPointsRequest.from_dict(
        {"activation": "relu", "sigma_w2": 0.5, "sigma_b2": 0.1}
    )
    body.sigma_w2 = -1.0  # the generated model does not enforce bounds; the service does
    response = await _module("api.fixed_points.get_fixed_points").asyncio_detailed(
        client=generated, body=body
    )
    assert response.status_code == 422
    assert type(response.parsed).__name__ == "Problem"
    assert [error.field for error in response.parsed.errors] == ["sigma_w2"]
