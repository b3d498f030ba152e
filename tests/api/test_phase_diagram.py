"""POST /v1/phase-diagram: closed forms, the core, npz and PNG."""

from __future__ import annotations

import io
import math

import httpx
import numpy as np
import pytest

from core.activations import get_activation
from core.phase_diagram import phase_diagram

pytestmark = pytest.mark.anyio

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
RELU = {
    "activation": "relu",
    "sigma_w2": {"start": 1.0, "stop": 3.0, "num": 5},
    "sigma_b2": {"start": 0.0, "stop": 0.4, "num": 3},
}


async def test_relu_grid_matches_closed_forms(api_client: httpx.AsyncClient) -> None:
    response = await api_client.post("/v1/phase-diagram", json=RELU)
    assert response.status_code == 200, response.text
    data = response.json()
    w2, b2 = np.array(data["sigma_w2"]), np.array(data["sigma_b2"])
    assert w2.tolist() == [1.0, 1.5, 2.0, 2.5, 3.0] and b2.tolist() == [0.0, 0.2, 0.4]
    chi_1 = np.array(data["chi_1"], dtype=float)
    assert chi_1.shape == (3, 5)
    np.testing.assert_allclose(chi_1, np.broadcast_to(w2 / 2, (3, 5)), rtol=1e-12)
    for i, sigma_b2 in enumerate(b2):
        for j, sigma_w2 in enumerate(w2):
            q_star = data["q_star"][i][j]
            if sigma_w2 < 2:
                assert q_star == pytest.approx(sigma_b2 / (1 - sigma_w2 / 2), rel=1e-12, abs=0)
                assert data["phase"][i][j] == "ordered"
            elif sigma_b2 > 0:
                assert q_star is None  # relu with σ_w² ≥ 2 and σ_b² > 0: no fixed point
    # relu's order-to-chaos line is σ_w² = 2 at every σ_b²
    line = data["critical_line"]
    assert line["sigma_w2"] == pytest.approx([2.0] * len(line["sigma_b2"]), rel=1e-10)
    assert response.headers["x-cache"] in ("hit", "miss")


async def test_erf_matches_the_core_and_the_critical_point(api_client: httpx.AsyncClient) -> None:
    body = {
        "activation": "erf",
        "sigma_w2": {"start": 0.5, "stop": 2.0, "num": 4},
        "sigma_b2": {"start": 0.0, "stop": 0.1, "num": 2},
    }
    response = await api_client.post("/v1/phase-diagram", json=body)
    assert response.status_code == 200, response.text
    data = response.json()
    core = phase_diagram(get_activation("erf"), np.linspace(0.5, 2.0, 4), np.linspace(0.0, 0.1, 2))
    for name in ("chi_1", "q_star", "chi_c_star", "xi_c_star"):
        expected = np.where(np.isnan(getattr(core, name)), None, getattr(core, name)).tolist()
        assert data[name] == expected, name
    # erf at σ_b² = 0: χ₁ = σ_w² E[φ'(0)²] = 4σ_w²/π, critical at σ_w² = π/4
    assert data["critical_line"]["sigma_b2"][0] == 0.0
    assert data["critical_line"]["sigma_w2"][0] == pytest.approx(math.pi / 4, rel=1e-10)


async def test_npz_round_trip(api_client: httpx.AsyncClient) -> None:
    as_json = (await api_client.post("/v1/phase-diagram", json=RELU)).json()
    response = await api_client.post(
        "/v1/phase-diagram", json=RELU, headers={"accept": "application/x-npz"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-npz"
    arrays = np.load(io.BytesIO(response.content))
    for name in ("sigma_w2", "sigma_b2", "chi_1", "q_star", "chi_c_star", "xi_c_star"):
        expected = np.array(as_json[name], dtype=float)  # None -> NaN
        np.testing.assert_array_equal(arrays[name], expected)
    assert arrays["phase"].tolist() == [[p or "" for p in row] for row in as_json["phase"]]
    np.testing.assert_array_equal(
        arrays["critical_line.sigma_w2"], as_json["critical_line"]["sigma_w2"]
    )


async def test_png_heat_map(api_client: httpx.AsyncClient) -> None:
    response = await api_client.post(
        "/v1/phase-diagram", json=RELU, headers={"accept": "image/png"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert response.content.startswith(PNG_MAGIC)
    assert 20_000 < len(response.content) < 2_000_000
