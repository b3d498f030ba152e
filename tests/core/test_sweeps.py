"""core/sweeps.py: the grid against a dense numpy/scipy reference, and the paper's claims.

Reference: the erf NNGP/NTK recursion of MATH.md §2 in plain numpy, η = 2/λ_max from
numpy.linalg.eigvalsh, f_t(X) = (I − e^{−ηtΘ}) y with scipy.linalg.expm, f_t(Z) =
Θ(Z,X) Θ⁻¹ f_t(X) (MATH.md §5) — at small sizes where float64 is accurate.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import scipy.optimize

from core.activations import get_activation
from core.errors import InvalidInputError
from core.sweeps import merge_rows, sweep, sweep_problem, sweep_row

ERF = get_activation("erf")


def _sphere(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """n points with ‖x‖² = d (the paper's normalisation)."""
    x = rng.normal(size=(n, d))
    return x * math.sqrt(d) / np.linalg.norm(x, axis=1, keepdims=True)


def _erf_ntk(x1: np.ndarray, x2: np.ndarray, w2: float, b2: float, depth: int) -> np.ndarray:
    """Θ^depth(x1, x2) for φ = erf by the plain recursion (MATH.md §2 table)."""
    d0 = x1.shape[1]
    q1 = w2 * np.sum(x1 * x1, axis=1) / d0 + b2
    q2 = w2 * np.sum(x2 * x2, axis=1) / d0 + b2
    q12 = w2 * x1 @ x2.T / d0 + b2
    theta = q12.copy()
    for _ in range(depth - 1):
        a = np.outer(1 + 2 * q1, 1 + 2 * q2)
        dot = w2 * (4 / np.pi) / np.sqrt(a - 4 * q12**2)
        q12 = w2 * (2 / np.pi) * np.arcsin(2 * q12 / np.sqrt(a)) + b2
        theta = q12 + dot * theta
        q1 = w2 * (2 / np.pi) * np.arcsin(2 * q1 / (1 + 2 * q1)) + b2
        q2 = w2 * (2 / np.pi) * np.arcsin(2 * q2 / (1 + 2 * q2)) + b2
    return theta


def _reference(
    xtr: np.ndarray, y: np.ndarray, xte: np.ndarray, w2: float, b2: float, depth: int, t: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """(f_t(X_test), f_t(X_train), κ) of the gradient flow with η = 2/λ_max."""
    k_train = _erf_ntk(xtr, xtr, w2, b2, depth)
    k_cross = _erf_ntk(xte, xtr, w2, b2, depth)
    lam = np.linalg.eigvalsh(k_train)
    if math.isinf(t):
        train = y.copy()
    else:
        train = (np.eye(len(y)) - scipy.linalg.expm(-(2.0 / lam[-1]) * t * k_train)) @ y
    return k_cross @ np.linalg.solve(k_train, train), train, float(lam[-1] / lam[0])


def _blobs(seed: int, n: int, m: int, d: int, classes: int) -> tuple[np.ndarray, ...]:
    """Inputs on the sphere; labels = the nearest of ``classes`` random directions."""
    rng = np.random.default_rng(seed)
    x = _sphere(rng, n + m, d)
    labels = np.argmax(x @ rng.normal(size=(d, classes)), axis=1)
    return x[:n], labels[:n], x[n:], labels[n:]


def test_grid_matches_the_dense_reference() -> None:
    xtr, ltr, xte, lte = _blobs(1, 7, 5, 4, 3)
    times = [0.0, 0.3, 5.0, math.inf]
    w2_axis, depths = [0.8, 2.5], [2, 4, 7]
    result = sweep(sweep_problem(ERF, 0.1, w2_axis, depths, xtr, ltr, xte, lte, times))
    classes = int(max(ltr.max(), lte.max())) + 1
    assert result.classes == classes
    y = np.eye(classes)[ltr] - 1.0 / classes  # mean-centred one-hot
    y_test = np.eye(classes)[lte] - 1.0 / classes
    assert result.train_loss.shape == (4, 2, 3) and result.condition_number.shape == (2, 3)
    assert result.train_accuracy is not None and result.test_accuracy is not None
    for i, w2 in enumerate(w2_axis):
        for j, depth in enumerate(depths):
            for k, t in enumerate(times):
                test, train, kappa = _reference(xtr, y, xte, w2, 0.1, depth, t)
                assert result.train_loss[k, i, j] == pytest.approx(
                    np.mean((train - y) ** 2), rel=1e-7, abs=1e-14
                )
                assert result.test_loss[k, i, j] == pytest.approx(
                    np.mean((test - y_test) ** 2), rel=1e-7
                )
                if t > 0:  # at t = 0 every output is 0: argmax ties
                    assert result.train_accuracy[k, i, j] == np.mean(train.argmax(1) == ltr)
                    assert result.test_accuracy[k, i, j] == np.mean(test.argmax(1) == lte)
            assert result.condition_number[i, j] == pytest.approx(kappa, rel=1e-6)
            assert not result.condition_number_is_lower_bound[i, j]
    assert result.train_loss[0] == pytest.approx(np.mean(y**2), rel=1e-15)  # t = 0: f = 0
    assert np.all(result.train_loss[-1] < 1e-20)  # t = ∞ interpolates


def test_depth_scales_match_the_mean_field_closed_forms() -> None:
    # relu: χ₁ = σ_w²/2 (ordered below 2)
    xtr, ltr, xte, lte = _blobs(2, 6, 3, 5, 2)
    relu = sweep(sweep_problem(get_activation("relu"), 0.1, [0.5, 1.5], [3], xtr, ltr, xte, lte))
    np.testing.assert_allclose(relu.xi_1, [-1 / math.log(0.25), -1 / math.log(0.75)], rtol=1e-12)
    assert relu.phase == ["ordered", "ordered"] and np.all(np.isnan(relu.xi_star))
    # erf at σ_b² = 0: χ₁ = σ_w² (4/π)/√(1+4q*); ordered: q* = 0; chaotic: q* solves
    # q = σ_w² (2/π) arcsin(2q/(1+2q)), c* = 0 (odd φ) and χ_c* = σ_w² (4/π)/(1+2q*), so
    # ξ* = −1/ln(χ_c*/χ₁) = −1/ln(√(1+4q*)/(1+2q*))
    erf = sweep(sweep_problem(ERF, 0.0, [0.5, 3.0], [3], xtr, ltr, xte, lte))
    assert erf.phase == ["ordered", "chaotic"]
    assert erf.xi_1[0] == pytest.approx(-1 / math.log(2.0 / math.pi), rel=1e-10)
    q = scipy.optimize.brentq(
        lambda q: 3.0 * (2 / math.pi) * math.asin(2 * q / (1 + 2 * q)) - q, 1e-3, 100, xtol=1e-15
    )
    ratio = math.sqrt(1 + 4 * q) / (1 + 2 * q)
    assert erf.xi_star[1] == pytest.approx(-1 / math.log(ratio), rel=1e-8)
    assert math.isnan(erf.xi_1[1]) and math.isnan(erf.xi_star[0])


def test_deep_chaotic_networks_fit_but_forget_the_data() -> None:
    """Chaotic phase: κ(Θ) → 1 (trains within a short t), test predictions → the mean (0)."""
    xtr, ltr, xte, lte = _blobs(3, 30, 30, 6, 2)
    result = sweep(
        sweep_problem(ERF, 0.05, [4.0], [2, 30, 150], xtr, ltr, xte, lte, [10.0, math.inf])
    )
    assert result.phase == ["chaotic"] and result.xi_star[0] < 2
    assert result.train_accuracy is not None and result.test_accuracy is not None
    assert np.all(result.train_accuracy[0, 0] == 1.0)  # every depth fits within t = 10 ...
    assert result.log10_condition_number[0, 2] < 1e-10  # ... κ → 1
    y_test = np.eye(2)[lte] - 0.5
    mean_loss = float(np.mean(y_test**2))  # the loss of predicting the mean, 0
    assert result.test_loss[1, 0, 0] < 0.5 * mean_loss
    assert result.test_accuracy[1, 0, 0] > 0.9
    # 18 ξ*: still resolved, already forgotten
    assert result.test_resolved[0, 1]
    assert result.test_loss[1, 0, 1] == pytest.approx(mean_loss, rel=1e-4)
    assert result.test_accuracy[1, 0, 1] <= 0.6
    # 90 ξ*: the differences between training points are below float64: flagged, no accuracy
    assert not result.test_resolved[0, 2] and np.isnan(result.test_accuracy[1, 0, 2])
    assert result.test_loss[1, 0, 2] == pytest.approx(mean_loss, rel=1e-10)
    assert any("below float64 resolution at depths [150]" in w for w in result.warnings)


def test_deep_ordered_networks_stop_fitting_beyond_a_few_xi_1() -> None:
    """Ordered phase: κ(Θ) grows like 1/(l χ₁^l) (smooth φ), so a fixed t fits nothing."""
    xtr, ltr, xte, lte = _blobs(4, 30, 10, 6, 2)
    depths = [2, 60, 200]
    result = sweep(sweep_problem(ERF, 0.05, [0.8], depths, xtr, ltr, xte, lte, [0.0, 1000.0]))
    assert result.phase == ["ordered"]
    xi_1 = float(result.xi_1[0])
    chi_1 = math.exp(-1 / xi_1)
    assert depths[1] > 10 * xi_1
    start = result.train_loss[0, 0]
    assert result.train_loss[1, 0, 0] < 0.2 * start[0]  # shallow: fits
    assert np.all(result.train_loss[1, 0, 1:] > 0.9 * start[1:])  # deep: stuck
    # κ is resolved far beyond 1/eps (the deviation representation, not rounding noise) and
    # follows the law 1/(l χ₁^l) between the two deep depths
    assert not np.any(result.condition_number_is_lower_bound[0])
    log_kappa = result.log10_condition_number[0]
    assert log_kappa[2] > 20
    law = -(math.log10(200 / 60) + 140 * math.log10(chi_1))
    assert log_kappa[2] - log_kappa[1] == pytest.approx(law, abs=0.05)


def test_rows_merge_into_the_sweep_with_progress() -> None:
    xtr, _, xte, _ = _blobs(5, 6, 4, 3, 2)
    y_train = np.column_stack([np.sin(xtr[:, 0]), xtr[:, 1]])  # regression, k = 2
    y_test = np.column_stack([np.sin(xte[:, 0]), xte[:, 1]])
    problem = sweep_problem(ERF, 0.1, [0.7, 1.4, 2.1], [1, 3], xtr, y_train, xte, y_test)
    seen: list[float] = []
    whole = sweep(problem, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0)
    rows = [sweep_row(problem, i) for i in range(3)]
    merged = merge_rows(problem, rows)
    for name in ("train_loss", "test_loss", "condition_number", "xi_1", "xi_star"):
        np.testing.assert_array_equal(getattr(merged, name), getattr(whole, name))
    assert whole.train_accuracy is None and whole.classes is None
    with pytest.raises(InvalidInputError):
        merge_rows(problem, rows[::-1])


def test_class_labels_integers_and_one_hot_agree() -> None:
    xtr, ltr, xte, lte = _blobs(6, 8, 4, 4, 3)
    ints = sweep(sweep_problem(ERF, 0.1, [1.5], [3], xtr, ltr, xte, lte, [2.0]))
    onehot = sweep(
        sweep_problem(ERF, 0.1, [1.5], [3], xtr, np.eye(3)[ltr], xte, np.eye(3)[lte], [2.0])
    )
    np.testing.assert_array_equal(ints.train_loss, onehot.train_loss)
    np.testing.assert_array_equal(ints.test_accuracy, onehot.test_accuracy)
    # the same numbers as floats are a regression target: no accuracies
    floats = sweep(
        sweep_problem(ERF, 0.1, [1.5], [3], xtr, ltr.astype(float), xte, lte.astype(float))
    )
    assert floats.train_accuracy is None and floats.classes is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"y_test": np.zeros(3, dtype=int)}, "y_test"),
        ({"y_test": np.zeros(4)}, "y_test"),
        ({"y_train": np.zeros(6, dtype=int), "y_test": np.zeros(4, dtype=int)}, "y_train"),
        ({"x_test": np.ones((4, 2))}, "x_test"),
        ({"depths": []}, "depths"),
        ({"depths": [0, 3]}, "depths"),
        ({"t": [-1.0]}, "t"),
        ({"sigma_w2": [0.0]}, "sigma_w2"),
    ],
)
def test_invalid_input_names_the_field(change: dict[str, object], field: str) -> None:
    xtr, ltr, xte, lte = _blobs(7, 6, 4, 3, 2)
    args: dict[str, object] = {
        "activation": ERF,
        "sigma_b2": 0.1,
        "sigma_w2": [1.0],
        "depths": [2],
        "x_train": xtr,
        "y_train": ltr,
        "x_test": xte,
        "y_test": lte,
        "t": [math.inf],
    }
    with pytest.raises(InvalidInputError) as info:
        sweep_problem(**(args | change))  # type: ignore[arg-type]
    assert info.value.field == field
