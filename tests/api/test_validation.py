"""Every class of bad input is a 422 problem naming the field; too much work is a 413."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI

from service.compute import ComputeOutcome
from service.deps import get_compute
from tests.api.conftest import LIMITS

pytestmark = pytest.mark.anyio

NETWORK = {"activation": "relu", "sigma_w2": 1.5, "sigma_b2": 0.1, "depth": 5}
X = [[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]]


def kernels(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"network": dict(NETWORK), "x1": X}
    for key, value in changes.items():
        if key.startswith("network_"):
            body["network"][key.removeprefix("network_")] = value
        else:
            body[key] = value
    return body


def assert_problem(response: httpx.Response, status: int, field: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    assert problem["type"].startswith("/problems/")
    assert problem["title"] and problem["detail"]
    if field is not None:
        fields = [error["field"] for error in problem["errors"]]
        assert field in fields, fields
        assert field in problem["detail"]
    return problem


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        (kernels(network_activation="swish2"), "network.activation", "valid names"),
        (
            kernels(network_activation={"name": "leaky_relu", "alpha": 7.0}),
            "network.activation",
            "alpha",
        ),
        (kernels(network_activation={"name": "relu", "beta": 1.0}), "network.activation", "beta"),
        (kernels(network_activation=3), "network.activation", "activation name"),
        (kernels(network_sigma_w2=0.0), "network.sigma_w2", "greater than or equal to 0.000001"),
        (kernels(network_sigma_w2=-1.0), "network.sigma_w2", "greater than or equal to 0.000001"),
        (kernels(network_sigma_b2=-0.1), "network.sigma_b2", "greater than or equal to 0"),
        (kernels(network_sigma_w2="2"), "network.sigma_w2", "number"),
        (kernels(network_depth=0), "network.depth", "greater than or equal to 1"),
        (kernels(network_depth=2.5), "network.depth", "integer"),
        (kernels(network_depth=True), "network.depth", "integer"),
        (kernels(network_depth="inf"), "network.depth", "integer"),
        (kernels(network_depth=10**6), "network.depth", "less than or equal"),
        (kernels(x1=[[1.0, 2.0], [3.0]]), "x1", "rectangular"),
        (kernels(x1=[]), "x1", "at least 1"),
        (kernels(x1=[[]]), "x1[0]", "at least 1"),
        (kernels(x2=[[1.0, 2.0, 3.0]]), "x2", "same input dimension"),
        (kernels(depths=[2, 9]), "depths", "network.depth = 5"),
        (kernels(kernels=["ntk", "cntk"]), "kernels[1]", "nngp"),
        (kernels(network_sigma_w=1.0), "network.sigma_w", "Extra inputs"),
        (kernels(x1=[[1e300, 0.0]]), "x1[0][0]", "less than or equal"),
    ],
)
async def test_kernels_bad_input(
    api_client: httpx.AsyncClient, body: dict[str, Any], field: str, says: str
) -> None:
    problem = assert_problem(await api_client.post("/v1/kernels", json=body), 422, field)
    message = next(e["message"] for e in problem["errors"] if e["field"] == field)
    assert says in message


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'"sigma_w2": NaN', "network.sigma_w2"),
        (b'"sigma_w2": Infinity', "network.sigma_w2"),
        (b'"sigma_w2": -Infinity', "network.sigma_w2"),
        (b'"sigma_w2": 1e400', "network.sigma_w2"),
    ],
)
async def test_non_finite_numbers_in_the_raw_body(
    api_client: httpx.AsyncClient, raw: bytes, field: str
) -> None:
    body = (
        b'{"network": {"activation": "relu", ' + raw + b', "sigma_b2": 0.1, "depth": 3}, '
        b'"x1": [[1.0, 2.0]]}'
    )
    response = await api_client.post(
        "/v1/kernels", content=body, headers={"content-type": "application/json"}
    )
    problem = assert_problem(response, 422, field)
    assert "finite" in problem["errors"][0]["message"]


async def test_nan_inside_an_array(api_client: httpx.AsyncClient) -> None:
    body = (
        b'{"network": {"activation": "erf", "sigma_w2": 1.0, "sigma_b2": 0.1, "depth": 3}, '
        b'"x1": [[1.0, 2.0], [NaN, 0.5]]}'
    )
    response = await api_client.post(
        "/v1/kernels", content=body, headers={"content-type": "application/json"}
    )
    assert_problem(response, 422, "x1[1][0]")


async def test_malformed_json(api_client: httpx.AsyncClient) -> None:
    response = await api_client.post(
        "/v1/fixed-points", content=b'{"activation": ', headers={"content-type": "application/json"}
    )
    problem = assert_problem(response, 422, "body")
    assert "JSON" in problem["detail"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/fixed-points", {"activation": "tanh", "sigma_w2": 1.0}, "sigma_b2"),
        (
            "/v1/fixed-points",
            {"activation": "cos", "sigma_w2": 5e-324, "sigma_b2": 0.0},
            "sigma_w2",
        ),
        (
            "/v1/sweeps",
            {
                "activation": "erf",
                "sigma_b2": 0.0,
                "sigma_w2": {"start": 1e-7, "stop": 1.0, "num": 2},
                "depths": [1],
                "x_train": X,
                "y_train": [0, 1, 0],
                "x_test": X,
                "y_test": [0, 1, 0],
            },
            "sigma_w2.start",
        ),
        (
            "/v1/phase-diagram",
            {
                "activation": "relu",
                "sigma_w2": {"start": 2.0, "stop": 1.0, "num": 3},
                "sigma_b2": {"start": 0.0, "stop": 1.0, "num": 3},
            },
            "sigma_w2",
        ),
        (
            "/v1/phase-diagram",
            {
                "activation": "relu",
                "sigma_w2": {"start": 0.0, "stop": 1.0, "num": 3},
                "sigma_b2": {"start": 0.0, "stop": 1.0, "num": 3},
            },
            "sigma_w2.start",
        ),
        (
            "/v1/phase-diagram",
            {
                "activation": "relu",
                "sigma_w2": {"start": 1.0, "stop": 2.0, "num": 0},
                "sigma_b2": {"start": 0.0, "stop": 1.0, "num": 3},
            },
            "sigma_w2.num",
        ),
        ("/v1/spectra", {"network": NETWORK, "x": X, "depths": [6]}, "depths"),
        (
            "/v1/predictions",
            {"network": NETWORK, "x_train": X, "y_train": [1.0, 2.0], "x_test": X},
            "y_train",
        ),
        (
            "/v1/predictions",
            {"network": NETWORK, "x_train": X, "y_train": [[1.0], [2.0, 1.0], [0.0]], "x_test": X},
            "y_train",
        ),
        (
            "/v1/predictions",
            {"network": NETWORK, "x_train": X, "y_train": [1.0, 2.0, 3.0], "x_test": [[1.0]]},
            "x_test",
        ),
        (
            "/v1/predictions",
            {
                "network": NETWORK,
                "x_train": X,
                "y_train": [1.0, 2.0, 3.0],
                "x_test": X,
                "t": [-1.0],
            },
            "t[0]",
        ),
        (
            "/v1/predictions",
            {
                "network": NETWORK,
                "x_train": X,
                "y_train": [1.0, 2.0, 3.0],
                "x_test": X,
                "kernel": "cntk",
            },
            "kernel",
        ),
    ],
)
async def test_other_endpoints_bad_input(
    api_client: httpx.AsyncClient, path: str, body: dict[str, Any], field: str
) -> None:
    assert_problem(await api_client.post(path, json=body), 422, field)


async def test_depth_above_the_configured_maximum(api_client: httpx.AsyncClient) -> None:
    depth = LIMITS["max_depth"] + 1
    response = await api_client.post("/v1/kernels", json=kernels(network_depth=depth))
    problem = assert_problem(response, 422, "network.depth")
    assert str(LIMITS["max_depth"]) in problem["detail"]


async def test_too_many_points_is_413_naming_the_limit(api_client: httpx.AsyncClient) -> None:
    x = [[float(i), 1.0] for i in range(LIMITS["max_points"] + 1)]
    problem = assert_problem(await api_client.post("/v1/kernels", json=kernels(x1=x)), 413)
    assert "max_points" in problem["detail"] and "/v1/jobs" in problem["detail"]
    assert problem["type"] == "/problems/work-too-large"


async def test_too_much_work_is_413_naming_the_limit(api_client: httpx.AsyncClient) -> None:
    x = [[float(i), 1.0] for i in range(110)]  # 110² entries × 5000 layers > max_work
    body = kernels(x1=x, network_depth=5000, depths=[5000])
    problem = assert_problem(await api_client.post("/v1/kernels", json=body), 413)
    assert "max_work" in problem["detail"] and "/v1/jobs" in problem["detail"]


async def test_big_phase_diagram_is_413(api_client: httpx.AsyncClient) -> None:
    body = {
        "activation": "relu",
        "sigma_w2": {"start": 1.0, "stop": 3.0, "num": 1000},
        "sigma_b2": {"start": 0.0, "stop": 1.0, "num": 1000},
    }
    problem = assert_problem(await api_client.post("/v1/phase-diagram", json=body), 413)
    assert "max_work" in problem["detail"]


async def test_unsupported_accept_is_406(api_client: httpx.AsyncClient) -> None:
    body = {"activation": "relu", "sigma_w2": 1.0, "sigma_b2": 0.1}
    response = await api_client.post(
        "/v1/fixed-points", json=body, headers={"accept": "application/x-npz"}
    )
    problem = assert_problem(response, 406)
    assert "application/json" in problem["detail"]
    response = await api_client.post("/v1/kernels", json=kernels(), headers={"accept": "text/csv"})
    problem = assert_problem(response, 406)
    assert "application/x-npz" in problem["detail"]


async def test_a_nan_from_the_computation_is_a_422_not_a_200(
    api_app: FastAPI, api_client: httpx.AsyncClient
) -> None:
    """The last guard: a non-finite number in a result becomes a numerical-limit problem."""

    class NaNCompute:
        async def run(self, kind: str, request: dict[str, Any], **_: Any) -> ComputeOutcome:
            kernel = np.array([[[1.0, np.nan], [np.nan, 1.0]]])
            result = {
                "depths": [5],
                "nngp": kernel,
                "ntk": kernel,
                "nngp_log10_scale": np.zeros(1),
                "ntk_log10_scale": np.zeros(1),
                "method": "fake",
            }
            return ComputeOutcome(result, "miss")

    api_app.dependency_overrides[get_compute] = NaNCompute
    try:
        response = await api_client.post("/v1/kernels", json=kernels(x1=[[1.0, 0.0], [0.0, 1.0]]))
    finally:
        del api_app.dependency_overrides[get_compute]
    problem = assert_problem(response, 422)
    assert problem["type"] == "/problems/numerical-limit"
    assert "nngp" in problem["detail"]
