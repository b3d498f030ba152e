"""POST /v1/kernels, /v1/spectra and /v1/predictions against closed forms computed here.

References: the relu recursion of MATH.md §2 written out in numpy (depth 1 and 2), dense
eigenvalues, and the gradient-flow formula of §5 via scipy's expm.
"""

from __future__ import annotations

import io
import itertools

import httpx
import numpy as np
import pytest
from scipy.linalg import expm

from core.activations import get_activation
from core.kernels import compute_kernels
from core.network import Network
from service.tasks import FIGURE_DEPTHS, FIGURE_INFINITE_DEPTH, figure_depths

pytestmark = pytest.mark.anyio

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SIGMA_W2, SIGMA_B2 = 1.6, 0.2
X = np.array([[1.0, 0.0, 0.5], [0.3, -0.8, 1.2], [-1.0, 0.4, 0.0], [0.2, 0.9, -0.7]])
X_TEST = np.array([[0.5, 0.5, 0.5], [-0.3, 0.1, 0.9]])


def network(depth: int | str) -> dict:
    return {"activation": "relu", "sigma_w2": SIGMA_W2, "sigma_b2": SIGMA_B2, "depth": depth}


def relu_kernels(x1: np.ndarray, x2: np.ndarray) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """(Σ, Θ) at depths 1 and 2 for relu, from MATH.md §2's table."""
    d = x1.shape[1]
    sigma1 = SIGMA_W2 * x1 @ x2.T / d + SIGMA_B2
    q1 = SIGMA_W2 * np.sum(x1 * x1, 1) / d + SIGMA_B2
    q2 = SIGMA_W2 * np.sum(x2 * x2, 1) / d + SIGMA_B2
    norm = np.sqrt(np.outer(q1, q2))
    theta = np.arccos(np.clip(sigma1 / norm, -1.0, 1.0))
    # identical inputs: θ = 0 exactly (arccos of a rounded c = 1 would be ~1e-8 off, §7)
    theta[np.all(x1[:, None, :] == x2[None, :, :], axis=-1)] = 0.0
    e_phi = norm * (np.sin(theta) + (np.pi - theta) * np.cos(theta)) / (2 * np.pi)
    e_dphi = (np.pi - theta) / (2 * np.pi)
    sigma2 = SIGMA_W2 * e_phi + SIGMA_B2
    ntk2 = sigma2 + SIGMA_W2 * e_dphi * sigma1
    return {1: (sigma1, sigma1), 2: (sigma2, ntk2)}


async def test_kernels_match_the_closed_form(api_client: httpx.AsyncClient) -> None:
    body = {"network": network(2), "x1": X.tolist(), "x2": X_TEST.tolist(), "depths": [2, 1]}
    response = await api_client.post("/v1/kernels", json=body)
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["depths"] == [1, 2]
    reference = relu_kernels(X, X_TEST)
    for i, depth in enumerate(data["depths"]):
        nngp, ntk = reference[depth]
        scale_nngp = 10.0 ** data["nngp_log10_scale"][i]
        scale_ntk = 10.0 ** data["ntk_log10_scale"][i]
        np.testing.assert_allclose(np.array(data["nngp"][i]) * scale_nngp, nngp, rtol=1e-12)
        np.testing.assert_allclose(np.array(data["ntk"][i]) * scale_ntk, ntk, rtol=1e-12)


async def test_kernels_past_float64s_range_come_back_scaled(api_client: httpx.AsyncClient) -> None:
    """gelu deep in the chaotic phase (σ_w² = 1000: Σ ~ 1e400 at depth 150): a 200, finite
    arrays, and log10 scales that carry the rest: the core's numbers, which
    tests/core/test_asymptotes.py checks against mpmath."""
    net = {"activation": "gelu", "sigma_w2": 1000.0, "sigma_b2": 0.5, "depth": 150}
    response = await api_client.post("/v1/kernels", json={"network": net, "x1": X.tolist()})
    assert response.status_code == 200, response.text
    data = response.json()
    nngp = np.array(data["nngp"][0])
    assert np.log10(np.abs(nngp).max()) + data["nngp_log10_scale"][0] > 350
    assert "scale-free limit" in data["method"]
    core = compute_kernels(Network(get_activation("gelu"), 1000.0, 0.5, 150), X)
    np.testing.assert_array_equal(nngp, core.nngp[0])
    np.testing.assert_array_equal(np.array(data["ntk"][0]), core.ntk[0])
    assert data["ntk_log10_scale"] == core.ntk_log10_scale.tolist()


async def test_kernels_subset_npz_round_trip_and_cache(api_client: httpx.AsyncClient) -> None:
    body = {"network": network(5), "x1": X.tolist(), "kernels": ["ntk"], "depths": [1, 3, 5]}
    as_json = await api_client.post("/v1/kernels", json=body)
    assert as_json.status_code == 200, as_json.text
    data = as_json.json()
    assert data["nngp"] is None and data["nngp_log10_scale"] is None
    ntk = np.array(data["ntk"])
    assert ntk.shape == (3, 4, 4)
    np.testing.assert_array_equal(ntk, np.swapaxes(ntk, 1, 2))  # K(x1, x1) is symmetric
    as_npz = await api_client.post(
        "/v1/kernels", json=body, headers={"accept": "application/x-npz"}
    )
    assert as_npz.status_code == 200
    assert as_npz.headers["content-type"] == "application/x-npz"
    assert as_npz.headers["x-cache"] == "hit"  # same request: served from the cache
    arrays = np.load(io.BytesIO(as_npz.content))
    np.testing.assert_array_equal(arrays["ntk"], ntk)  # bit-exact: JSON floats round-trip
    np.testing.assert_array_equal(arrays["ntk_log10_scale"], data["ntk_log10_scale"])
    np.testing.assert_array_equal(arrays["depths"], [1, 3, 5])


async def test_spectra_match_dense_eigenvalues(api_client: httpx.AsyncClient) -> None:
    body = {"network": network(2), "x": X.tolist(), "depths": [1, 2], "eigenvalues": True}
    response = await api_client.post("/v1/spectra", json=body)
    assert response.status_code == 200, response.text
    data = response.json()
    reference = relu_kernels(X, X)
    for i, depth in enumerate(data["depths"]):
        for index, name in enumerate(("nngp", "ntk")):
            expected = np.linalg.eigvalsh(reference[depth][index])
            spectrum = data[name]
            scale = 10.0 ** spectrum["log10_scale"][i]
            np.testing.assert_allclose(
                np.array(spectrum["eigenvalues"][i]) * scale, expected, rtol=1e-9
            )
            assert spectrum["lambda_max"][i] * scale == pytest.approx(expected[-1], rel=1e-10)
            assert spectrum["condition_number"][i] == pytest.approx(
                expected[-1] / expected[0], rel=1e-8
            )
    assert data["theory"]["phase"] == "ordered"


async def test_predictions_match_gradient_flow(api_client: httpx.AsyncClient) -> None:
    y = np.array([1.0, -1.0, 0.5, 0.0])
    eta = 0.3
    body = {
        "network": network(2),
        "x_train": X.tolist(),
        "y_train": y.tolist(),
        "x_test": X_TEST.tolist(),
        "t": [0.5, 4.0, "inf"],
        "learning_rate": eta,
    }
    response = await api_client.post("/v1/predictions", json=body)
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["t"] == [0.5, 4.0, "inf"]
    ntk_train = relu_kernels(X, X)[2][1]
    ntk_test = relu_kernels(X_TEST, X)[2][1]
    mean, train_mean = np.array(data["mean"]), np.array(data["train_mean"])
    assert mean.shape == (3, 2, 1) and train_mean.shape == (3, 4, 1)
    for i, t in enumerate([0.5, 4.0]):
        decay = np.eye(4) - expm(-eta * t * ntk_train)
        expected_train = decay @ y
        expected_test = ntk_test @ np.linalg.solve(ntk_train, decay @ y)
        np.testing.assert_allclose(train_mean[i, :, 0], expected_train, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(mean[i, :, 0], expected_test, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(
        mean[2, :, 0], ntk_test @ np.linalg.solve(ntk_train, y), rtol=1e-8, atol=1e-10
    )
    np.testing.assert_allclose(train_mean[2, :, 0], y, rtol=1e-8, atol=1e-10)


async def test_predictions_at_infinite_depth_are_finite(api_client: httpx.AsyncClient) -> None:
    body = {
        "network": network("inf"),
        "x_train": X.tolist(),
        "y_train": [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]],
        "x_test": X_TEST.tolist(),
    }
    response = await api_client.post("/v1/predictions", json=body)
    assert response.status_code == 200, response.text
    data = response.json()
    assert np.array(data["mean"]).shape == (1, 2, 2)
    assert np.isfinite(np.array(data["mean"])).all()


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/spectra", {"network": network(30), "x": X.tolist(), "depths": [1, 3, 10, 30]}),
        (
            "/v1/predictions",
            {
                "network": network(10),
                "x_train": X.tolist(),
                "y_train": [1.0, -1.0, 0.5, 0.0],
                "x_test": X_TEST.tolist(),
                "t": [0.1, 1.0, 10.0, "inf"],
            },
        ),
        (
            "/v1/predictions",
            {
                "network": {**network(10), "sigma_w2": 1.2, "depth": "inf"},
                "x_train": X.tolist(),
                "y_train": [1.0, -1.0, 0.5, 0.0],
                "x_test": X_TEST.tolist(),
            },
        ),
    ],
)
async def test_png_figures(api_client: httpx.AsyncClient, path: str, body: dict) -> None:
    response = await api_client.post(path, json=body, headers={"accept": "image/png"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert response.content.startswith(PNG_MAGIC)
    assert 20_000 < len(response.content) < 2_000_000


def test_the_depths_of_the_predictions_figure() -> None:
    assert figure_depths(3) == [1, 2, 3]
    depths = figure_depths(30)
    assert depths[0] == 1 and depths[-1] == 30 and len(depths) <= FIGURE_DEPTHS
    assert all(b > a for a, b in itertools.pairwise(depths))
    assert figure_depths(None)[-1] == FIGURE_INFINITE_DEPTH
