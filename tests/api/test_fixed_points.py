"""POST /v1/fixed-points and GET /v1/activations against closed forms and the core."""

from __future__ import annotations

import math

import httpx
import pytest

from core.activations import get_activation, list_activations
from core.fixed_points import fixed_points

pytestmark = pytest.mark.anyio


async def test_activations_lists_the_registry(api_client: httpx.AsyncClient) -> None:
    response = await api_client.get("/v1/activations")
    assert response.status_code == 200
    listed = {a["name"]: a for a in response.json()["activations"]}
    infos = list_activations()
    assert set(listed) == {info.name for info in infos}
    for info in infos:
        assert listed[info.name]["closed_form"] == info.closed_form
        assert [p["name"] for p in listed[info.name]["parameters"]] == [
            p.name for p in info.parameters
        ]


@pytest.mark.parametrize(("sigma_w2", "sigma_b2"), [(1.0, 0.1), (1.5, 0.3), (0.5, 2.0)])
async def test_relu_ordered_closed_form(
    api_client: httpx.AsyncClient, sigma_w2: float, sigma_b2: float
) -> None:
    body = {"activation": "relu", "sigma_w2": sigma_w2, "sigma_b2": sigma_b2}
    response = await api_client.post("/v1/fixed-points", json=body)
    assert response.status_code == 200, response.text
    data = response.json()
    q_star = sigma_b2 / (1 - sigma_w2 / 2)
    assert data["q_star"] == pytest.approx(q_star, rel=1e-12)
    assert data["chi_1"] == pytest.approx(sigma_w2 / 2, rel=1e-12)
    assert data["phase"] == "ordered"
    assert data["c_star"] == 1.0
    assert data["p_star"] == pytest.approx(q_star / (1 - sigma_w2 / 2), rel=1e-10)
    assert data["xi_1"] == pytest.approx(-1 / math.log(sigma_w2 / 2), rel=1e-12)
    assert data["convergence"]["q_star"]["converged"] is True


async def test_relu_without_fixed_point_is_null_with_a_note(
    api_client: httpx.AsyncClient,
) -> None:
    body = {"activation": "relu", "sigma_w2": 3.0, "sigma_b2": 0.1}
    response = await api_client.post("/v1/fixed-points", json=body)
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["q_star"] is None
    assert data["chi_1"] == pytest.approx(1.5, rel=1e-12)
    assert any("q*" in note for note in data["notes"])


async def test_matches_the_core_for_a_parametrised_activation(
    api_client: httpx.AsyncClient,
) -> None:
    spec = {"name": "leaky_relu", "alpha": 0.2}
    body = {"activation": spec, "sigma_w2": 1.3, "sigma_b2": 0.05}
    response = await api_client.post("/v1/fixed-points", json=body)
    assert response.status_code == 200, response.text
    expected = fixed_points(get_activation(spec), 1.3, 0.05).to_dict()
    data = response.json()
    for key in ("q_star", "chi_1", "c_star", "chi_c_star", "xi_1", "p_star", "p_ab_star"):
        assert data[key] == expected[key], key
    assert data["phase"] == expected["phase"]
    # leaky relu: χ₁ = σ_w² (1 + α²)/2 independent of q*
    assert data["chi_1"] == pytest.approx(1.3 * (1 + 0.04) / 2, rel=1e-12)


async def test_correlation_map_of_relu_against_the_arccos_closed_form(
    api_client: httpx.AsyncClient,
) -> None:
    """relu: E[φ(u)φ(v)] = q (sin θ + (π − θ) cos θ)/(2π), E[φ'φ'] = (π − θ)/(2π), c = cos θ."""
    sigma_w2, sigma_b2 = 1.5, 0.1
    body = {"activation": "relu", "sigma_w2": sigma_w2, "sigma_b2": sigma_b2}
    response = await api_client.post("/v1/fixed-points", json={**body, "correlation_map": 9})
    assert response.status_code == 200, response.text
    data = response.json()
    curve = data["correlation_map"]
    q_star = sigma_b2 / (1 - sigma_w2 / 2)
    assert curve["c"] == pytest.approx([-1 + k / 4 for k in range(9)], abs=1e-15)
    for c, f, f_prime in zip(curve["c"], curve["f"], curve["f_prime"], strict=True):
        theta = math.acos(c)
        moment = q_star * (math.sin(theta) + (math.pi - theta) * c) / (2 * math.pi)
        assert f == pytest.approx((sigma_w2 * moment + sigma_b2) / q_star, rel=1e-13)
        assert f_prime == pytest.approx(sigma_w2 * (math.pi - theta) / (2 * math.pi), rel=1e-13)
    assert curve["f"][-1] == pytest.approx(1.0, rel=1e-15)
    assert curve["f_prime"][-1] == pytest.approx(data["chi_1"], rel=1e-13)
    assert (await api_client.post("/v1/fixed-points", json=body)).json()["correlation_map"] is None


async def test_correlation_map_without_q_star_is_null_with_a_note(
    api_client: httpx.AsyncClient,
) -> None:
    body = {"activation": "relu", "sigma_w2": 3.0, "sigma_b2": 0.1, "correlation_map": 5}
    data = (await api_client.post("/v1/fixed-points", json=body)).json()
    assert data["correlation_map"] is None
    assert any(note.startswith("correlation_map: ") and "q*" in note for note in data["notes"])


async def test_correlation_map_size_is_bounded(api_client: httpx.AsyncClient) -> None:
    body = {"activation": "erf", "sigma_w2": 1.5, "sigma_b2": 0.1, "correlation_map": 5000}
    response = await api_client.post("/v1/fixed-points", json=body)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "correlation_map"
