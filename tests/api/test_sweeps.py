"""POST /v1/sweeps: shapes, class-label detection, the core's numbers, errors, limits, PNG."""

from __future__ import annotations

import io
import math
from typing import Any

import httpx
import numpy as np
import pytest

from core.activations import get_activation
from core.sweeps import sweep, sweep_problem

pytestmark = pytest.mark.anyio

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _data(n: int = 10, m: int = 6, d: int = 3, seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n + m, d))
    labels = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    return {
        "x_train": x[:n].tolist(),
        "y_train": labels[:n].tolist(),
        "x_test": x[n:].tolist(),
        "y_test": labels[n:].tolist(),
    }


def _body(**change: Any) -> dict[str, Any]:
    body = {
        "activation": "erf",
        "sigma_b2": 0.05,
        "sigma_w2": {"start": 0.5, "stop": 3.0, "num": 3},
        "depths": [5, 1, 5, 20],
        "t": [2.0, "inf"],
        **_data(),
    }
    return body | change


async def test_integer_labels_give_accuracies_and_the_core_numbers(
    api_client: httpx.AsyncClient,
) -> None:
    body = _body()
    response = await api_client.post("/v1/sweeps", json=body)
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["depths"] == [1, 5, 20] and data["t"] == [2.0, "inf"]
    assert data["sigma_w2"] == [0.5, 1.75, 3.0] and data["classes"] == 2
    for name in ("train_loss", "test_loss", "train_accuracy", "test_accuracy"):
        assert np.shape(data[name]) == (2, 3, 3), name
    for name in (
        "condition_number",
        "log10_condition_number",
        "condition_number_is_lower_bound",
        "test_resolved",
    ):
        assert np.shape(data[name]) == (3, 3), name
    assert all(all(row) for row in data["test_resolved"])  # shallow enough to resolve
    assert len(data["xi_1"]) == len(data["xi_star"]) == len(data["phase"]) == 3
    assert data["phase"] == ["ordered", "chaotic", "chaotic"]
    assert data["xi_1"][0] > 0 and data["xi_1"][1] is None and data["xi_star"][0] is None
    core = sweep(
        sweep_problem(
            get_activation("erf"),
            0.05,
            [0.5, 1.75, 3.0],
            [1, 5, 20],
            np.array(body["x_train"]),
            np.array(body["y_train"]),
            np.array(body["x_test"]),
            np.array(body["y_test"]),
            [2.0, math.inf],
        )
    )
    np.testing.assert_array_equal(data["train_loss"], core.train_loss)
    np.testing.assert_array_equal(data["test_accuracy"], core.test_accuracy)
    np.testing.assert_array_equal(np.array(data["xi_star"][1:], dtype=float), core.xi_star[1:])


async def test_one_hot_rows_are_labels_and_floats_are_regression(
    api_client: httpx.AsyncClient,
) -> None:
    body = _body()
    as_ints = (await api_client.post("/v1/sweeps", json=body)).json()
    one_hot = _body(
        y_train=np.eye(2, dtype=int)[body["y_train"]].tolist(),
        y_test=np.eye(2)[body["y_test"]].tolist(),  # floats 0.0/1.0: one-hot all the same
    )
    response = await api_client.post("/v1/sweeps", json=one_hot)
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["classes"] == 2
    assert data["train_loss"] == as_ints["train_loss"]
    assert data["test_accuracy"] == as_ints["test_accuracy"]
    floats = _body(
        y_train=[float(v) for v in body["y_train"]], y_test=[float(v) for v in body["y_test"]]
    )
    data = (await api_client.post("/v1/sweeps", json=floats)).json()
    assert data["classes"] is None
    assert data["train_accuracy"] is None and data["test_accuracy"] is None
    assert data["train_loss"] != as_ints["train_loss"]  # raw targets, not centred one-hot


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"y_test": [0, 1]}, "y_test"),  # rows ≠ x_test rows
        ({"y_train": [0, 1, 1]}, "y_train"),
        ({"y_test": [0.5] * 6}, "y_test"),  # labels for training, regression for test
        ({"x_test": [[1.0, 2.0]] * 6}, "x_test"),
        ({"depths": [5001]}, "depths"),  # above the service's max_depth
        ({"depths": []}, "depths"),
        ({"sigma_b2": -1.0}, "sigma_b2"),
        ({"t": [-1.0]}, "t[0]"),
    ],
)
async def test_invalid_input_is_422_naming_the_field(
    api_client: httpx.AsyncClient, change: dict[str, Any], field: str
) -> None:
    response = await api_client.post("/v1/sweeps", json=_body(**change))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    fields = [error["field"] for error in response.json()["errors"]]
    assert any(f == field or f.startswith(f"{field}.") for f in fields), fields


async def test_above_the_synchronous_limits_is_413_pointing_to_jobs(
    api_client: httpx.AsyncClient,
) -> None:
    many = _body(**_data(n=100, m=30))  # 130 points > max_points = 120
    response = await api_client.post("/v1/sweeps", json=many)
    assert response.status_code == 413, response.text
    assert "max_points" in response.json()["detail"]
    heavy = _body(sigma_w2={"start": 0.5, "stop": 3.0, "num": 1000}, depths=[5000])
    response = await api_client.post("/v1/sweeps", json=heavy)
    assert response.status_code == 413
    detail = response.json()["detail"]
    assert "max_work" in detail and "/v1/jobs" in detail


async def test_png_and_npz(api_client: httpx.AsyncClient) -> None:
    response = await api_client.post("/v1/sweeps", json=_body(), headers={"accept": "image/png"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert response.content.startswith(PNG_MAGIC)
    regression = _body(y_train=[0.5] * 10, y_test=[0.1] * 6, t=["inf"])
    response = await api_client.post("/v1/sweeps", json=regression, headers={"accept": "image/png"})
    assert response.status_code == 200 and response.content.startswith(PNG_MAGIC)
    response = await api_client.post(
        "/v1/sweeps", json=_body(), headers={"accept": "application/x-npz"}
    )
    assert response.status_code == 200, response.text
    arrays = np.load(io.BytesIO(response.content))
    assert arrays["train_accuracy"].shape == (2, 3, 3)
    assert np.isnan(arrays["xi_1"][1]) and arrays["xi_1"][0] > 0
