"""Kernel-regression predictions (MATH.md §5) against mpmath at high precision.

The references here are independent of the core: the kernel recursion of MATH.md §2 with
the closed forms of relu and erf, evaluated in mpmath, and the solves / matrix exponentials
of §5 in mpmath (``mpmath.expm``), on small data.
"""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest

from core.activations import get_activation
from core.errors import InvalidInputError
from core.linalg import DeviationKernel, KernelSolver
from core.network import Network
from core.predictions import predict, predict_depths
from tests.core.mp_reference import EXPECTATIONS, mp_kernel_layers

# ---------------------------------------------------------------- mpmath references


def mp_kernels(
    activation: str, sigma_w2: float, sigma_b2: float, x: np.ndarray, depths: list[int], dps: int
) -> dict[int, tuple[mp.matrix, mp.matrix]]:
    """{depth: (Σ, Θ)} on all pairs of the rows of x, by MATH.md §2 in mpmath."""
    with mp.workdps(dps):
        layers = mp_kernel_layers(x, EXPECTATIONS[activation], sigma_w2, sigma_b2, depths)
        return {depth: (mp.matrix(s), mp.matrix(t)) for depth, (s, t) in layers.items()}


def mp_solve(a: mp.matrix, y: mp.matrix) -> mp.matrix:
    out = mp.matrix(a.rows, y.cols)
    for j in range(y.cols):
        col = mp.lu_solve(a, y[:, j])
        for i in range(a.rows):
            out[i, j] = col[i]
    return out


def mp_flow(
    k_all: mp.matrix, n: int, y: np.ndarray, eta_t: float, reg: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """(test mean, train mean) of MATH.md §5 for one η·t (math.inf: t = ∞), in mpmath."""
    m = k_all.rows - n
    k_train = k_all[:n, :n] + mp.mpf(reg) * mp.eye(n)
    k_cross = k_all[n:, :n]
    ym = mp.matrix(y.tolist())
    if math.isinf(eta_t):
        alpha = mp_solve(k_train, ym)
        train = k_all[:n, :n] * alpha
    else:
        resid = (mp.eye(n) - mp.expm(-mp.mpf(eta_t) * k_train)) * ym
        alpha = mp_solve(k_train, resid)
        train = resid
    mean = k_cross * alpha if m else mp.matrix(0, y.shape[1])
    return _np(mean, m, y.shape[1]), _np(train, n, y.shape[1])


def _np(a: mp.matrix, rows: int, cols: int) -> np.ndarray:
    return np.array([[float(a[i, j]) for j in range(cols)] for i in range(rows)])


def mp_eta_default(k_train: mp.matrix) -> mp.mpf:
    return 2 / max(mp.eigsy(k_train, eigvals_only=True))


def sphere_points(n: int, d: int, seed: int) -> np.ndarray:
    """n points with ‖x‖² = d (the paper's normalisation)."""
    x = np.random.default_rng(seed).normal(size=(n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True) * math.sqrt(d)


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


# ---------------------------------------------------------------- the solver itself


@pytest.mark.parametrize("log10_tau", [-0.3, -1.5, -4.0, -14.0, -60.0])
@pytest.mark.parametrize("reg", [0.0, 1e-3])
def test_solver_matches_mpmath_at_every_deviation_scale(log10_tau: float, reg: float) -> None:
    """K̂ = v vᵀ + τB from τ ~ 1 (dense path) down to τ = 1e-60 (structured path), against
    mpmath at 90 digits: finite t (mpmath.expm) and t = ∞, test and train means."""
    rng = np.random.default_rng(7)
    n, m = 6, 3
    pts = rng.normal(size=(n + m, 3))
    dist = ((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1)
    b = np.exp(-dist / 3.0) - 1.0  # zero diagonal, conditionally positive definite
    v = np.sqrt(1.0 + 0.1 * rng.random(n + m))
    y = rng.normal(size=(n, 2))
    solver = KernelSolver(DeviationKernel(v[:n], v[n:], b[:n, :n], b[n:, :n], log10_tau), reg)
    assert solver.structured == (log10_tau < -2)
    with mp.workdps(90):
        tau = mp.mpf(10) ** log10_tau
        k_all = mp.matrix(n + m, n + m)
        for i in range(n + m):
            for j in range(n + m):
                k_all[i, j] = mp.mpf(v[i]) * mp.mpf(v[j]) + tau * mp.mpf(b[i, j])
        # η t chosen so that the smallest modes are half learned at the last time
        lam_min = min(mp.eigsy(k_all[:n, :n], eigvals_only=True))
        times = [0.7, float(1 / lam_min), math.inf]
        means, trains = solver.predict(y, [math.log10(t) if t < math.inf else t for t in times])
        for i, eta_t in enumerate(times):
            ref_mean, ref_train = mp_flow(k_all, n, y, eta_t, reg)
            assert relative_error(means[i], ref_mean) < 1e-11, (i, log10_tau)
            assert relative_error(trains[i], ref_train) < 1e-11, (i, log10_tau)


def test_solver_spectrum_resolves_eigenvalues_far_below_float64_noise() -> None:
    rng = np.random.default_rng(3)
    n = 7
    pts = rng.normal(size=(n, 2))
    b = np.exp(-((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1)) - 1.0
    v = np.sqrt(2.0 + rng.random(n))
    for log10_tau in (-5.0, -30.0, -400.0):
        spectrum = KernelSolver(DeviationKernel(v, v[:0], b, b[:0], log10_tau)).spectrum()
        with mp.workdps(60 + int(-log10_tau)):
            tau = mp.mpf(10) ** log10_tau
            k = mp.matrix(n, n)
            for i in range(n):
                for j in range(n):
                    k[i, j] = mp.mpf(v[i]) * mp.mpf(v[j]) + tau * mp.mpf(b[i, j])
            ref = sorted(float(mp.log10(e)) for e in mp.eigsy(k, eigvals_only=True))
        assert np.all(spectrum.resolved)
        np.testing.assert_allclose(np.sort(spectrum.log10_values()), ref, rtol=0, atol=1e-12)


# ---------------------------------------------------------------- predict() end to end


def _network(activation: str, sigma_w2: float, sigma_b2: float, depth: int | None) -> Network:
    return Network(get_activation(activation), sigma_w2, sigma_b2, depth)


@pytest.mark.parametrize(
    ("activation", "sigma_w2", "sigma_b2", "depth", "kernel"),
    [
        ("relu", 1.5, 0.1, 5, "ntk"),  # ordered, shallow
        ("erf", 1.2, 0.05, 12, "nngp"),
        ("erf", 3.0, 0.05, 25, "ntk"),  # chaotic: Θ ~ 10^4, a log10 scale
    ],
)
def test_predict_matches_mpmath(
    activation: str, sigma_w2: float, sigma_b2: float, depth: int, kernel: str
) -> None:
    x = sphere_points(8, 3, seed=depth)
    n = 5
    y = np.random.default_rng(1).normal(size=(n, 2))
    times = [0.0, 0.4, 30.0, math.inf]
    result = predict(
        _network(activation, sigma_w2, sigma_b2, depth), x[:n], y, x[n:], kernel=kernel, t=times
    )
    index = 0 if kernel == "nngp" else 1
    with mp.workdps(50):
        k_all = mp_kernels(activation, sigma_w2, sigma_b2, x, [depth], 50)[depth][index]
        eta = mp_eta_default(k_all[:n, :n])  # the documented default 2/λ_max
        assert result.learning_rate == pytest.approx(float(eta), rel=1e-12)
        for i, t in enumerate(times):
            ref_mean, ref_train = mp_flow(k_all, n, y, float(eta * t) if t < math.inf else t)
            if t == 0.0:
                assert np.all(result.mean[i] == 0) and np.all(result.train_mean[i] == 0)
                continue
            assert relative_error(result.mean[i], ref_mean) < 1e-11
            assert relative_error(result.train_mean[i], ref_train) < 1e-11
    assert result.mean.shape == (4, 3, 2) and result.train_mean.shape == (4, 5, 2)
    assert any(w.startswith("solver: Cholesky") for w in result.warnings)


def naive_erf_ntk(sigma_w2: float, sigma_b2: float, x: np.ndarray, depth: int) -> np.ndarray:
    """The plain float64 recursion of MATH.md §2 (what a straightforward code computes)."""
    sig = sigma_w2 * x @ x.T / x.shape[1] + sigma_b2
    ntk = sig.copy()
    for _ in range(depth - 1):
        d = np.diag(sig)
        prod = np.outer(1 + 2 * d, 1 + 2 * d)
        e_ff = 2 / np.pi * np.arcsin(np.clip(2 * sig / np.sqrt(prod), -1, 1))
        e_dd = 4 / np.pi / np.sqrt(np.maximum(prod - 4 * sig**2, 1e-300))
        sig, ntk = sigma_w2 * e_ff + sigma_b2, sigma_w2 * e_ff + sigma_b2 + sigma_w2 * e_dd * ntk
    return ntk


def test_deep_ordered_network_where_float64_collapses() -> None:
    """erf, χ₁ = 0.44, depth 100: 1 − c^l ~ 1e-36, so float64 holds Θ = p* 11ᵀ + noise.

    The plain float64 recursion gives a rank-one kernel and nonsense at t = ∞; ours agrees
    with mpmath at 120 digits.
    """
    sigma_w2, sigma_b2, depth = 0.6, 0.3, 100
    x = sphere_points(7, 3, seed=4)
    n = 5
    y = np.array([[1.0], [-1.0], [0.5], [2.0], [-0.3]])
    result = predict(_network("erf", sigma_w2, sigma_b2, depth), x[:n], y, x[n:])
    with mp.workdps(120):
        k_all = mp_kernels("erf", sigma_w2, sigma_b2, x, [depth], 120)[depth][1]
        ref_mean, _ = mp_flow(k_all, n, y, math.inf)
    assert relative_error(result.mean[0], ref_mean) < 1e-9
    np.testing.assert_allclose(result.train_mean[0], y, rtol=0, atol=1e-9)
    assert result.log10_condition_number is not None and result.log10_condition_number > 30
    naive = naive_erf_ntk(sigma_w2, sigma_b2, x, depth)
    assert np.linalg.matrix_rank(naive[:n, :n]) == 1
    with np.errstate(all="ignore"):
        naive_mean = naive[n:, :n] @ np.linalg.lstsq(naive[:n, :n], y, rcond=None)[0]
    assert relative_error(naive_mean, ref_mean) > 0.1


def test_neural_tangents_time_convention() -> None:
    """NT's gradient_descent_mse evolves e^{−η t_NT Θ/y.size} (its loss is ½·mean over the
    n·k entries of y), so at the same η our t equals t_NT/(n k)."""
    x = sphere_points(9, 4, seed=2)
    n, k = 6, 3
    y = np.random.default_rng(5).normal(size=(n, k))
    network = _network("relu", 1.8, 0.2, 4)
    t_nt = 7.5
    eta = 0.05
    ours = predict(network, x[:n], y, x[n:], t=[t_nt / (n * k)], learning_rate=eta)
    with mp.workdps(40):
        k_all = mp_kernels("relu", 1.8, 0.2, x, [4], 40)[4][1]
        k_train, k_cross = k_all[:n, :n], k_all[n:, :n]
        # NT predict.py: expm1(−max(λ, 0)·t/normalization) with normalization = y.size
        decay = mp.expm(-mp.mpf(eta) * t_nt * k_train / (n * k))
        nt_mean = k_cross * mp_solve(k_train, (mp.eye(n) - decay) * mp.matrix(y.tolist()))
    assert relative_error(ours.mean[0], _np(nt_mean, 3, k)) < 1e-11


def test_duplicate_training_points_fall_back_without_nan() -> None:
    """A singular kernel (repeated inputs with different labels): Cholesky fails, the solver
    used is named, the result is finite and equals the least-squares fit (the t → ∞ limit of
    gradient flow) to rounding, not to a jitter's bias."""
    x = sphere_points(6, 3, seed=8)
    x_train = np.vstack([x[:4], x[:2]])  # rows 4, 5 repeat rows 0, 1
    y = np.array([1.0, -1.0, 0.5, 2.0, 3.0, 1.0])
    result = predict(_network("relu", 1.5, 0.1, 4), x_train, y, x[4:])
    assert np.all(np.isfinite(result.mean)) and np.all(np.isfinite(result.train_mean))
    assert any("pseudo-inverse" in w for w in result.warnings), result.warnings
    assert result.condition_number_is_lower_bound
    fitted = result.train_mean[0, :, 0]
    # the repeated inputs get the mean of their labels; the others their own label
    np.testing.assert_allclose(fitted, [2.0, 0.0, 0.5, 2.0, 2.0, 0.0], rtol=0, atol=1e-13)
    with mp.workdps(40):
        k_all = mp_kernels("relu", 1.5, 0.1, np.vstack([x[:4], x[4:]]), [4], 40)[4][1]
        ref = mp_flow(k_all, 4, np.array([[2.0], [0.0], [0.5], [2.0]]), math.inf)[0]
    assert relative_error(result.mean[0], ref) < 1e-12


def test_t_infinity_of_a_rank_deficient_kernel_is_the_least_squares_fit() -> None:
    """Depth 1: Θ = σ_w² XXᵀ/d + σ_b² has rank d + 1 < n. Gradient flow from f₀ = 0 tends to
    the least-squares fit on the features [x, 1]; finite t far past every resolved mode's
    time scale gives the same."""
    rng = np.random.default_rng(5)
    x_train, x_test = rng.normal(size=(40, 5)), rng.normal(size=(7, 5))
    y = rng.normal(size=(40, 2))
    result = predict(_network("erf", 2.0, 0.1, 1), x_train, y, x_test, t=[1e30, math.inf])
    features = np.hstack([x_train, np.ones((40, 1))])
    beta = np.linalg.lstsq(features, y, rcond=None)[0]
    for i in range(2):
        np.testing.assert_allclose(result.train_mean[i], features @ beta, rtol=0, atol=1e-12)
        test_fit = np.hstack([x_test, np.ones((7, 1))]) @ beta
        np.testing.assert_allclose(result.mean[i], test_fit, rtol=0, atol=1e-12)
    assert any("pseudo-inverse" in w for w in result.warnings), result.warnings


def test_diag_reg_relative_is_trace_over_n() -> None:
    x = sphere_points(7, 3, seed=3)
    network = _network("erf", 2.0, 0.1, 6)
    y = np.arange(5.0)
    relative = predict(network, x[:5], y, x[5:], diag_reg=0.1, diag_reg_relative=True)
    with mp.workdps(30):
        k_all = mp_kernels("erf", 2.0, 0.1, x, [6], 30)[6][1]
        trace_n = float(sum(k_all[i, i] for i in range(5)) / 5)
        ref_mean, ref_train = mp_flow(k_all, 5, y[:, None], math.inf, reg=0.1 * trace_n)
    absolute = predict(network, x[:5], y, x[5:], diag_reg=0.1 * trace_n)
    for r in (relative, absolute):
        assert relative_error(r.mean[0], ref_mean) < 1e-12
        assert relative_error(r.train_mean[0], ref_train) < 1e-12
    assert relative.mean.shape == (1, 2, 1)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kernel": "gp"}, "kernel"),
        ({"t": [-1.0]}, "t"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"diag_reg": math.nan}, "diag_reg"),
        ({"y_train": np.zeros(3)}, "y_train"),
        ({"x_test": np.zeros((2, 5))}, "x_test"),
    ],
)
def test_invalid_input_names_the_field(kwargs: dict, field: str) -> None:
    x = sphere_points(6, 3, seed=0)
    args = {"x_train": x[:4], "y_train": np.ones(4), "x_test": x[4:]}
    args.update({k: v for k, v in kwargs.items() if k in args})
    options = {k: v for k, v in kwargs.items() if k not in args}
    with pytest.raises(InvalidInputError) as info:
        predict(_network("relu", 1.5, 0.1, 3), **args, **options)
    assert info.value.field == field


def test_deep_ordered_inputs_of_unequal_norm() -> None:
    """Inputs of different norms (the per-entry recursion, v ≠ const): depth 100 vs mpmath."""
    norms = np.array([0.5, 1.0, 1.5, 0.8, 1.2, 0.7, 1.1, 0.9])
    x = sphere_points(8, 3, seed=12) * norms[:, None]
    n = 5
    y = np.array([[1.0], [-1.0], [0.5], [2.0], [-0.3]])
    result = predict(_network("erf", 0.6, 0.3, 100), x[:n], y, x[n:], t=[2.0, math.inf])
    with mp.workdps(120):
        k_all = mp_kernels("erf", 0.6, 0.3, x, [100], 120)[100][1]
        eta = mp_eta_default(k_all[:n, :n])
        for i, t in enumerate((2.0, math.inf)):
            ref = mp_flow(k_all, n, y, float(eta * t) if t < math.inf else t)[0]
            assert relative_error(result.mean[i], ref) < 1e-7
    assert result.solver == "structured Cholesky"


def test_deep_ordered_duplicates_long_time_equals_t_infinity() -> None:
    """The structured (deep ordered) solver on a singular kernel: null modes contribute
    nothing at any t (before: η t times rounding, 1e9 at t = 1e30), and t = ∞ fits each
    repeated input to the mean of its labels (before: a jitter's bias of 1e-5)."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(12, 4))
    x_train, x_test = np.vstack([x[:8], x[:3]]), x[8:]
    y = rng.normal(size=(11, 1))
    result = predict(_network("erf", 1.0, 0.1, 60), x_train, y, x_test, t=[1e30, math.inf])
    assert any("structured eigh pseudo-inverse" in w for w in result.warnings), result.warnings
    np.testing.assert_allclose(result.mean[0], result.mean[1], rtol=1e-10, atol=0)
    np.testing.assert_allclose(result.train_mean[0], result.train_mean[1], rtol=1e-10, atol=0)
    fitted = result.train_mean[1, :, 0]
    repeated = (y[:3, 0] + y[8:, 0]) / 2
    np.testing.assert_allclose(fitted[:3], repeated, rtol=1e-10)
    np.testing.assert_allclose(fitted[8:], repeated, rtol=1e-10)


@pytest.mark.parametrize(("activation", "sigma_w2"), [("erf", 1.2), ("relu", 2.5), ("tanh", 1.5)])
def test_predictions_at_many_depths_from_one_pass_equal_one_call_per_depth(
    activation: str, sigma_w2: float
) -> None:
    x = sphere_points(9, 3, seed=4) * np.linspace(0.8, 1.2, 9)[:, None]
    y = np.stack([np.linspace(-1.0, 1.0, 6), np.cos(np.arange(6.0))], axis=1)
    depths = [1, 2, 5, 17, 40]
    times = [0.5, 20.0, math.inf]
    network = _network(activation, sigma_w2, 0.1, None)
    together = predict_depths(network, x[:6], y, x[6:], depths, t=times, diag_reg=1e-3)
    for depth, result in zip(depths, together, strict=True):
        alone = predict(
            _network(activation, sigma_w2, 0.1, depth), x[:6], y, x[6:], t=times, diag_reg=1e-3
        )
        np.testing.assert_allclose(result.mean, alone.mean, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(result.train_mean, alone.train_mean, rtol=1e-12, atol=1e-14)
