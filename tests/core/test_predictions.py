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

from core.linalg import DeviationKernel, KernelSolver

# ---------------------------------------------------------------- mpmath references


def mp_kernels(
    activation: str, sigma_w2: float, sigma_b2: float, x: np.ndarray, depths: list[int], dps: int
) -> dict[int, tuple[mp.matrix, mp.matrix]]:
    """{depth: (Σ, Θ)} on all pairs of the rows of x, by MATH.md §2 in mpmath."""
    with mp.workdps(dps):
        n, d0 = x.shape
        w2, b2 = mp.mpf(sigma_w2), mp.mpf(sigma_b2)
        xs = [[mp.mpf(float(v)) for v in row] for row in x]
        sig = mp.matrix(n, n)
        for a in range(n):
            for b in range(n):
                sig[a, b] = w2 * mp.fsum(p * q for p, q in zip(xs[a], xs[b], strict=True)) / d0 + b2
        ntk = sig.copy()
        out = {}
        if 1 in depths:
            out[1] = (sig.copy(), ntk.copy())
        for layer in range(2, max(depths) + 1):
            new_sig, new_ntk = mp.matrix(n, n), mp.matrix(n, n)
            for a in range(n):
                for b in range(a, n):
                    q1, q2, q12 = sig[a, a], sig[b, b], sig[a, b]
                    e_ff, e_dd = _mp_expectations(activation, q1, q2, q12)
                    new_sig[a, b] = new_sig[b, a] = w2 * e_ff + b2
                    new_ntk[a, b] = new_ntk[b, a] = new_sig[a, b] + w2 * e_dd * ntk[a, b]
            sig, ntk = new_sig, new_ntk
            if layer in depths:
                out[layer] = (sig.copy(), ntk.copy())
        return out


def _mp_expectations(activation: str, q1: mp.mpf, q2: mp.mpf, q12: mp.mpf) -> tuple:
    if activation == "relu":
        c = q12 / mp.sqrt(q1 * q2)
        c = min(max(c, mp.mpf(-1)), mp.mpf(1))
        theta = mp.acos(c)
        e_ff = mp.sqrt(q1 * q2) * (mp.sin(theta) + (mp.pi - theta) * mp.cos(theta)) / (2 * mp.pi)
        return e_ff, (mp.pi - theta) / (2 * mp.pi)
    if activation == "erf":
        e_ff = 2 / mp.pi * mp.asin(2 * q12 / mp.sqrt((1 + 2 * q1) * (1 + 2 * q2)))
        e_dd = 4 / mp.pi / mp.sqrt((1 + 2 * q1) * (1 + 2 * q2) - 4 * q12**2)
        return e_ff, e_dd
    raise ValueError(activation)


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
