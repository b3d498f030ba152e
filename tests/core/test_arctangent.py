"""core.arctangent.upper_angle against mpmath's atan2: at most 2 ulp on every branch."""

from __future__ import annotations

import math

import mpmath as mp
import numba
import numpy as np
import pytest

from core.arctangent import upper_angle

#: the bound the module states, in units in the last place of the exact angle
MAX_ULP = 2.0


@numba.njit(cache=False)
def _angles(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    out = np.empty(y.size)
    for i in range(y.size):
        out[i] = upper_angle(y[i], x[i])
    return out


def _points(angles: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    radius = 10.0 ** np.random.default_rng(seed).uniform(-150, 150, angles.size)
    return np.abs(radius * np.sin(angles)), radius * np.cos(angles)


@pytest.mark.parametrize(
    "centre, width",
    [
        (math.pi / 2, math.pi / 2),  # all of [0, π]
        (0.0, 1e-12),  # flat: y/x tiny
        (math.pi, 1e-12),  # near π: x < 0, y tiny
        (math.pi / 2, 1e-9),  # steep, both sides of the y axis
        (math.atan(0.66), 1e-9),  # the split between flat and the π/4 reduction
        (math.atan(2.414213562373095), 1e-9),  # the split to steep
        (math.pi - math.atan(0.66), 1e-9),
    ],
)
def test_upper_angle_is_within_2_ulp_of_atan2(centre: float, width: float) -> None:
    rng = np.random.default_rng(7)
    angles = np.clip(centre + width * rng.uniform(-1.0, 1.0, 2000), 0.0, math.pi)
    y, x = _points(angles, 11)
    got = _angles(y, x)
    with mp.workdps(40):
        worst = max(
            abs(mp.mpf(g) - mp.atan2(mp.mpf(yi), mp.mpf(xi))) / math.ulp(math.atan2(yi, xi))
            for g, yi, xi in zip(got, y, x, strict=True)
        )
    assert worst <= MAX_ULP


def test_upper_angle_on_the_axes() -> None:
    y = np.array([0.0, 0.0, 1.0, 0.0, 3.0, 5e-324])
    x = np.array([0.0, 2.0, 0.0, -2.0, 3.0, -1.0])
    expected = [0.0, 0.0, math.pi / 2, math.pi, math.pi / 4, math.pi]
    assert list(_angles(y, x)) == expected
