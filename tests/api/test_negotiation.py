"""Accept negotiation, the finiteness guard, and the npz encoding (unit level)."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest

from api.negotiation import (
    JSON,
    NPZ,
    PNG,
    NotAcceptableError,
    check_finite,
    jsonable,
    negotiate,
    npz_bytes,
)
from core.errors import NumericalError

OFFERED = (JSON, NPZ, PNG)


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, JSON),
        ("", JSON),
        ("*/*", JSON),
        ("application/json", JSON),
        ("application/x-npz", NPZ),
        ("image/png", PNG),
        ("image/*", PNG),
        ("application/*", JSON),
        ("application/json;q=0.5, application/x-npz", NPZ),
        ("image/png;q=0.9, */*;q=0.1", PNG),
        ("text/html, */*;q=0.8", JSON),
        ("application/json;q=0, */*", NPZ),
        ("IMAGE/PNG", PNG),
    ],
)
def test_negotiate(accept: str | None, chosen: str) -> None:
    assert negotiate(accept, OFFERED) == chosen


@pytest.mark.parametrize("accept", ["text/csv", "image/png;q=0", "application/json;q=x", "*/*;q=0"])
def test_negotiate_refuses(accept: str) -> None:
    with pytest.raises(NotAcceptableError) as raised:
        negotiate(accept, OFFERED)
    assert raised.value.status == 406


def test_nan_is_null_only_where_declared() -> None:
    grid = np.array([[1.0, np.nan], [0.5, 2.0]])
    result = {"q_star": grid, "chi_1": grid.copy()}
    check_finite(result, frozenset({"q_star", "chi_1"}))
    assert jsonable(result)["q_star"] == [[1.0, None], [0.5, 2.0]]
    with pytest.raises(NumericalError, match="chi_1"):
        check_finite(result, frozenset({"q_star"}))


@pytest.mark.parametrize(
    "bad",
    [np.array([1.0, np.inf]), math.inf, -math.inf, math.nan, {"inner": [1.0, math.nan]}],
)
def test_non_finite_values_are_a_numerical_error(bad: object) -> None:
    with pytest.raises(NumericalError) as raised:
        check_finite({"field": bad})
    assert raised.value.status == 422
    with pytest.raises(NumericalError):  # inf is never allowed, not even where null is
        check_finite({"field": np.array([np.inf])}, frozenset({"field"}))


def test_npz_round_trip() -> None:
    kernel = np.random.default_rng(0).normal(size=(2, 3, 4))
    result = {
        "depths": [1, 5],
        "ntk": kernel,
        "nngp": None,
        "phase": [["ordered", None], ["chaotic", "critical"]],
        "t": [0.5, "inf"],
        "warnings": [],
        "critical_line": {"sigma_b2": np.array([0.0, 0.1]), "sigma_w2": np.array([1.0, 1.2])},
        "flags": [True, False],
        "method": "closed form",
    }
    arrays = np.load(io.BytesIO(npz_bytes(result)))
    assert np.array_equal(arrays["ntk"], kernel)
    assert arrays["depths"].dtype == np.int64 and arrays["depths"].tolist() == [1, 5]
    assert np.isnan(arrays["nngp"])
    assert arrays["phase"].tolist() == [["ordered", ""], ["chaotic", "critical"]]
    assert arrays["t"].tolist() == [0.5, math.inf]
    assert arrays["warnings"].shape == (0,)
    assert arrays["critical_line.sigma_w2"].tolist() == [1.0, 1.2]
    assert arrays["flags"].dtype == bool
    assert str(arrays["method"]) == "closed form"
