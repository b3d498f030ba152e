"""Phase diagrams and the critical line: against scalar fixed points, χ₁ = 1, and mpmath."""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest

from core.activations import get_activation
from core.errors import CancelledError, InvalidInputError
from core.fixed_points import fixed_points
from core.phase_diagram import critical_line, phase_diagram
from tests.core.test_fixed_points import (
    erf_derivative_variance,
    erf_variance,
    tanh_derivative_variance,
    tanh_variance,
)

ERF = get_activation("erf")
RELU = get_activation("relu")

GRIDS = ("chi_1", "chi_c_star", "q_star", "c_star", "xi_c_star")


def _scalar(fp, name):
    value = getattr(fp, name)
    return math.nan if value is None else value


@pytest.mark.parametrize(
    ("act", "num_w2", "num_b2"), [("erf", 60, 40), ("relu", 50, 30), ("tanh", 8, 4)]
)
def test_grid_cells_equal_scalar_fixed_points(act, num_w2, num_b2):
    activation = get_activation(act)
    w2 = np.linspace(0.2, 4.0, num_w2)
    b2 = np.linspace(0.0, 1.0, num_b2)
    diagram = phase_diagram(activation, w2, b2)
    assert diagram.chi_1.shape == diagram.phase.shape == (num_b2, num_w2)
    rng = np.random.default_rng(0)
    cells = [(0, 0), (num_b2 - 1, num_w2 - 1)] + [
        (int(rng.integers(num_b2)), int(rng.integers(num_w2))) for _ in range(10)
    ]
    names = diagram.phase_names()
    for i, j in cells:
        fp = fixed_points(activation, w2[j], b2[i])
        assert names[i, j] == fp.phase
        for name in GRIDS:
            # Closed forms are bitwise reproducible; a quadrature's sums may round
            # differently for a row of cells than for one.
            tol = 0.0 if activation.closed_form else 1e-12
            np.testing.assert_allclose(
                getattr(diagram, name)[i, j], _scalar(fp, name), rtol=tol, atol=tol, err_msg=name
            )


def test_phase_follows_the_critical_line():
    w2 = np.linspace(0.3, 4.0, 80)
    b2 = np.linspace(0.0, 2.0, 21)
    diagram = phase_diagram(ERF, w2, b2)
    line = diagram.critical_line
    names = diagram.phase_names()
    margin = 1e-6
    for i in range(b2.size):
        assert np.all(names[i, w2 < line[i] * (1 - margin)] == "ordered")
        assert np.all(names[i, w2 > line[i] * (1 + margin)] == "chaotic")
        ordered = names[i] == "ordered"
        np.testing.assert_array_less(diagram.chi_1[i, ordered], 1.0)
        # c* = 1 where q* > 0; at σ_b² = 0 the ordered q* is 0 and c* is not defined.
        expected = 1.0 if b2[i] > 0 else np.nan
        np.testing.assert_array_equal(diagram.c_star[i, ordered], expected)
        chaotic = names[i] == "chaotic"
        assert np.all(diagram.c_star[i, chaotic] < 1.0)
        np.testing.assert_array_less(np.abs(diagram.chi_c_star[i, chaotic]), 1.0)


def test_relu_diagram_has_no_q_star_beyond_two():
    w2 = np.array([1.0, 1.9, 2.0, 2.5, 3.0])
    b2 = np.array([0.0, 0.5])
    diagram = phase_diagram(RELU, w2, b2)
    np.testing.assert_array_equal(diagram.critical_line, [2.0, 2.0])
    assert diagram.phase_names()[1].tolist() == [
        "ordered", "ordered", "critical", "chaotic", "chaotic",
    ]  # fmt: skip
    np.testing.assert_allclose(diagram.q_star[1, :2], 0.5 / (1 - w2[:2] / 2), rtol=1e-14)
    assert np.all(np.isnan(diagram.q_star[1, 2:]))
    np.testing.assert_allclose(diagram.chi_1, np.broadcast_to(w2 / 2, (2, 5)), rtol=1e-15)


# --- the critical line -----------------------------------------------------------------


def test_critical_line_known_points():
    assert critical_line(ERF, np.array([0.0]))[0] == pytest.approx(math.pi / 4, rel=1e-15)
    assert critical_line(get_activation("tanh"), np.array([0.0]))[0] == pytest.approx(
        1.0, rel=1e-13
    )
    np.testing.assert_array_equal(critical_line(RELU, np.array([0.0, 0.1, 5.0])), 2.0)
    leaky = get_activation({"name": "leaky_relu", "alpha": 0.1})
    np.testing.assert_allclose(critical_line(leaky, np.array([0.3])), 2 / 1.01, rtol=1e-15)


@pytest.mark.parametrize("act", ["erf", "tanh"])
def test_critical_line_plugs_back_to_chi_1_equal_one(act):
    activation = get_activation(act)
    b2 = np.array([0.0, 1e-4, 0.05, 0.3, 1.0, 4.0])
    line = critical_line(activation, b2)
    assert np.all(np.isfinite(line))
    assert np.all(np.diff(line) > 0)  # more bias needs more weight variance to be chaotic
    for sigma_b2, sigma_w2 in zip(b2, line, strict=True):
        fp = fixed_points(activation, sigma_w2, sigma_b2)
        assert abs(fp.chi_1 - 1.0) <= 1e-10
        assert fp.phase == "critical"


@pytest.mark.parametrize(
    ("act", "variance", "derivative_variance", "b2"),
    [
        ("erf", erf_variance, erf_derivative_variance, [0.01, 0.2, 1.0, 3.0]),
        ("tanh", tanh_variance, tanh_derivative_variance, [0.05, 0.5]),
    ],
)
def test_critical_line_against_mpmath(act, variance, derivative_variance, b2):
    """On the line q* = σ_w² V(q*) + σ_b² and σ_w² W(q*) = 1: σ_b² = q − V(q)/W(q)."""
    line = critical_line(get_activation(act), np.array(b2))
    with mp.workdps(30):
        for sigma_b2, sigma_w2 in zip(b2, line, strict=True):
            q = mp.findroot(
                lambda q, s=sigma_b2: q - variance(q) / derivative_variance(q) - s,
                mp.mpf(max(sigma_b2, 0.1)),
            )
            reference = 1 / derivative_variance(q)
            assert abs(sigma_w2 - float(reference)) <= 1e-10 * float(reference)


# --- contract ------------------------------------------------------------------------------


def test_progress_reports_rows_and_cancellation_propagates():
    seen: list[float] = []
    phase_diagram(
        get_activation("tanh"), np.linspace(0.5, 3.0, 5), np.linspace(0, 1, 4), seen.append
    )
    assert seen == [0.25, 0.5, 0.75, 1.0]

    def cancel(fraction: float) -> None:
        raise CancelledError("stop")

    with pytest.raises(CancelledError):
        phase_diagram(ERF, np.linspace(0.5, 3.0, 5), np.linspace(0, 1, 4), cancel)


def test_to_dict_renders_phases_and_the_critical_line():
    diagram = phase_diagram(ERF, np.array([0.5, 3.0]), np.array([0.0, 0.1]))
    out = diagram.to_dict()
    assert out["phase"].tolist() == [["ordered", "chaotic"], ["ordered", "chaotic"]]
    np.testing.assert_array_equal(out["critical_line"]["sigma_b2"], [0.0, 0.1])
    relu = phase_diagram(RELU, np.array([2.5]), np.array([0.1])).to_dict()
    assert relu["phase"].tolist() == [["chaotic"]]
    assert np.isnan(relu["q_star"][0, 0]) and np.isnan(relu["chi_c_star"][0, 0])
    for name in GRIDS:
        grid = out[name]
        assert not np.any(np.isinf(grid)), name


@pytest.mark.parametrize(
    ("w2", "b2", "field"),
    [
        (np.array([]), np.array([0.0]), "sigma_w2"),
        (np.array([[1.0]]), np.array([0.0]), "sigma_w2"),
        (np.array([0.0, 1.0]), np.array([0.0]), "sigma_w2"),
        (np.array([1.0, np.nan]), np.array([0.0]), "sigma_w2"),
        (np.array([1.0]), np.array([-0.1]), "sigma_b2"),
        (np.array([1.0]), np.array([np.inf]), "sigma_b2"),
    ],
)
def test_invalid_axes_name_the_field(w2, b2, field):
    with pytest.raises(InvalidInputError) as err:
        phase_diagram(ERF, w2, b2)
    assert err.value.field == field


def test_critical_line_only_where_fixed_points_reach_it():
    """gelu at σ_b² = 0: χ₁ = 1 at q* = 0 for σ_w² = 4, but from q⁰ = σ_w² the length map
    diverges there (gelu grows like relu); softplus never has χ₁ = 1 at a finite q*."""
    b2 = np.array([0.0, 0.5, 1.0, 2.0])
    for name in ("gelu", "softplus"):
        activation = get_activation(name)
        line = critical_line(activation, b2)
        for sigma_b2, sigma_w2 in zip(b2, line, strict=True):
            if np.isfinite(sigma_w2):
                assert abs(fixed_points(activation, sigma_w2, sigma_b2).chi_1 - 1.0) <= 1e-9
    gelu = get_activation("gelu")
    assert np.isnan(critical_line(gelu, np.array([0.0]))[0])
    assert fixed_points(gelu, 4.0, 0.0).q_star is None
    softplus = phase_diagram(get_activation("softplus"), np.array([1.0, 3.0]), np.array([0.5]))
    assert softplus.to_dict()["critical_line"]["sigma_b2"].size == 0
    assert softplus.phase_names().tolist() == [["ordered", None]]
