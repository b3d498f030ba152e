"""Mean predictions of a trained infinitely wide network (MATH.md §5–6).

Conventions
- Loss ½ Σ_i ‖f(x_i) − y_i‖² (a sum), gradient flow from f₀ = 0 with learning rate η:
  NTK: f_t(x) = Θ(x,X) Θ(X,X)⁻¹ (I − e^{−η t Θ(X,X)}) y,  f_t(X) = (I − e^{−η t Θ(X,X)}) y.
  NNGP: the same flow with Σ in place of Θ (Σ used as the kernel of kernel regression — the
  dynamics of training only the last layer); at t = ∞ it is the GP posterior mean
  Σ(x,X) (Σ(X,X) + diag_reg·I)⁻¹ y.
- ``t`` is in units where the rate is η = ``learning_rate``; only η·t enters. Default
  η = 2/λ_max(K(X,X) + diag_reg·I), the largest stable rate of gradient descent, so that
  mode i learns as 1 − e^{−2 t λ_i/λ_max} (scale-free).
- neural-tangents' ``gradient_descent_mse_ensemble`` minimises ½·mean over the y.size = n·k
  entries, so its modes go as e^{−η t_NT λ / (n k)}: at the same η, t_NT = n·k · t.
- ``diag_reg`` is added to K(X,X) (absolute units), or, with ``diag_reg_relative``, it is
  multiplied by trace(K(X,X))/n first (as neural-tangents does).
- Kernels carry a log10 scale (chaotic growth, MATH.md §7); the solve works on the
  normalised kernels in the rank-one-plus-deviation form of ``core/linalg.py``, so ordered
  deep kernels keep the digits that the plain recursion rounds away.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from core.errors import InvalidInputError, NumericalError
from core.kernels import kernel_states
from core.linalg import DeviationKernel, KernelSolver, Spectrum, log10_or_neg_inf, pow10
from core.network import Network

KERNELS = ("ntk", "nngp")


@dataclass(frozen=True)
class PredictionResult:
    """Means at each training time; ``t`` holds math.inf for t = ∞.

    mean [len(t), n_test, k], train_mean [len(t), n_train, k]; k = 1 when y_train was [n].
    ``condition_number`` is κ of the solved training kernel (with diag_reg): from its
    eigenvalues when a finite t was asked (the eigendecomposition is made anyway), else
    LAPACK's estimate from the Cholesky factor (within a factor ~n; the warning says "≈").
    It is a lower bound where ``condition_number_is_lower_bound`` (float64 cannot resolve
    λ_min), None beyond the float64 range (``log10_condition_number`` still holds it).
    """

    t: list[float]
    mean: np.ndarray
    train_mean: np.ndarray
    warnings: list[str]
    kernel: str
    solver: str
    learning_rate: float | None
    condition_number: float | None
    log10_condition_number: float | None
    condition_number_is_lower_bound: bool
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "t": ["inf" if math.isinf(t) else t for t in self.t],
            "mean": self.mean,
            "train_mean": self.train_mean,
            "warnings": list(self.warnings),
            "kernel": self.kernel,
            "solver": self.solver,
            "learning_rate": self.learning_rate,
            "condition_number": self.condition_number,
            "log10_condition_number": self.log10_condition_number,
            "condition_number_is_lower_bound": self.condition_number_is_lower_bound,
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class PreparedKernel:
    """A normalised training/test kernel (true kernel = 10^log10_scale × it) ready to solve.

    log10_scale = +inf means the true kernel is unbounded (chaotic infinite depth): any
    fixed η > 0 then trains every mode at once for t > 0.
    """

    kernel: DeviationKernel
    log10_scale: float
    notes: list[str]
    kriging: bool = False  # t = ∞ is the ordered infinite-depth kriging limit


def predict(
    network: Network,
    x_train: Any,
    y_train: Any,
    x_test: Any,
    *,
    kernel: str = "ntk",
    t: Sequence[float] = (math.inf,),
    learning_rate: float | None = None,
    diag_reg: float = 0.0,
    diag_reg_relative: bool = False,
    progress: Callable[[float], None] | None = None,
) -> PredictionResult:
    """Mean predictions of the trained infinitely wide network on x_test and x_train.

    x_train [n, d], y_train [n] or [n, k], x_test [m, d]; t: training times ≥ 0 (math.inf
    for t = ∞). ``network.depth is None`` gives the infinite-depth limit (MATH.md §6; raises
    NotDefinedError on the critical line).
    """
    xtr, y, xte, times = _validate(x_train, y_train, x_test, kernel, t)
    _check_training(learning_rate, diag_reg)
    if network.depth is None:
        from core.infinite_depth import limit_kernel

        prepared = limit_kernel(network, xtr, xte, kernel, progress=progress)
    else:
        (prepared,) = finite_depth_kernels(network, xtr, xte, kernel, [network.depth], progress)
    return solve_prepared(prepared, y, times, kernel, learning_rate, diag_reg, diag_reg_relative)


def predict_depths(
    network: Network,
    x_train: Any,
    y_train: Any,
    x_test: Any,
    depths: Sequence[int],
    *,
    kernel: str = "ntk",
    t: Sequence[float] = (math.inf,),
    learning_rate: float | None = None,
    diag_reg: float = 0.0,
    diag_reg_relative: bool = False,
    progress: Callable[[float], None] | None = None,
) -> list[PredictionResult]:
    """:func:`predict` at each of ``depths`` (finite, increasing), from one pass of the kernel
    recursion; ``network.depth`` plays no part."""
    xtr, y, xte, times = _validate(x_train, y_train, x_test, kernel, t)
    _check_training(learning_rate, diag_reg)
    deepest = replace(network, depth=max(depths))
    return [
        solve_prepared(prepared, y, times, kernel, learning_rate, diag_reg, diag_reg_relative)
        for prepared in finite_depth_kernels(deepest, xtr, xte, kernel, depths, progress)
    ]


def _check_training(learning_rate: float | None, diag_reg: float) -> None:
    if learning_rate is not None and not (math.isfinite(learning_rate) and learning_rate > 0):
        raise InvalidInputError("learning_rate must be a finite number > 0", field="learning_rate")
    if not (math.isfinite(diag_reg) and diag_reg >= 0):
        raise InvalidInputError("diag_reg must be a finite number >= 0", field="diag_reg")


def finite_depth_kernels(
    network: Network,
    x_train: np.ndarray,
    x_test: np.ndarray,
    kernel: str,
    depths: Sequence[int],
    progress: Callable[[float], None] | None = None,
) -> list[PreparedKernel]:
    """The kernels of (x_train, x_train) and (x_test, x_train) in deviation form at each of
    ``depths`` (increasing, up to ``network.depth``), from one pass of the recursion."""
    x_all = np.vstack([x_train, x_test])
    states = kernel_states(network, x_train, x_all, depths=depths, progress=progress)
    return [
        PreparedKernel(*deviation_blocks(getattr(state, kernel), x_train.shape[0]), [])
        for state in states
    ]


def log10_eta_times(log10_eta: float, times: Sequence[float]) -> list[float]:
    """log10(η t) for each time (−inf: t = 0; +inf: t = ∞, or an unbounded rate η)."""
    out = []
    for time in times:
        if time == 0.0:
            out.append(-math.inf)
        elif math.isinf(time) or log10_eta == math.inf:
            out.append(math.inf)
        else:
            out.append(log10_eta + math.log10(time))
    return out


def deviation_blocks(part: Any, n: int) -> tuple[DeviationKernel, float]:
    """Split one kernel of a LayerState over (x_train, [x_train; x_test]) into the blocks."""
    g1 = np.asarray(part.g1, dtype=np.float64)
    g2 = np.asarray(part.g2, dtype=np.float64)
    deficit = np.asarray(part.deficit, dtype=np.float64)
    log10_tau = float(part.log10_deficit_scale)
    peak = float(np.max(np.abs(deficit))) if deficit.size else 0.0
    if peak > 0.0:  # deficit of order one, its size in τ: the solver picks its route by τ
        exponent = math.frexp(peak)[1]
        deficit = np.ldexp(deficit, -exponent)
        log10_tau += exponent * math.log10(2.0)
    b_train = -(deficit[:, :n] + deficit[:, :n].T) / 2.0
    np.fill_diagonal(b_train, 0.0)
    dev = DeviationKernel(
        v=np.sqrt(g1),
        u=np.sqrt(g2[n:]),
        b_train=b_train,
        b_cross=-deficit[:, n:].T.copy(),
        log10_tau=log10_tau,
    )
    return dev, float(part.log10_scale)


def solve_prepared(
    prepared: PreparedKernel,
    y: np.ndarray,
    times: list[float],
    kernel: str,
    learning_rate: float | None,
    diag_reg: float,
    diag_reg_relative: bool,
) -> PredictionResult:
    """Kernel regression / gradient flow on a prepared kernel (shared by finite and ∞ depth)."""
    dev = prepared.kernel
    s = prepared.log10_scale
    warnings: list[str] = []
    notes = list(prepared.notes)
    train_diag = dev.v**2 + dev.tau * np.diag(dev.b_train)
    if diag_reg == 0.0:
        reg = 0.0
    elif diag_reg_relative:
        reg = diag_reg * float(np.mean(train_diag))
    else:
        log10_reg = math.log10(diag_reg) - s
        reg = pow10(log10_reg)
        if log10_reg > 300:
            warnings.append("diag_reg exceeds the kernel by more than 1e300: clipped to that")
    solver = KernelSolver(dev, reg)
    finite_times = any(0 < time < math.inf for time in times)
    spectrum = solver.spectrum() if finite_times else None
    log10_eta = math.inf
    if spectrum is not None:
        lam_max = float(
            np.max(spectrum.values * np.power(10.0, np.minimum(spectrum.log10_units, 0)))
        )
        log10_eta = _log10_rate(learning_rate, s, lam_max)
    elif learning_rate is not None:
        log10_eta = math.log10(learning_rate) + s
    log10_eta_t = log10_eta_times(log10_eta, times)
    if log10_eta == math.inf and any(0 < time < math.inf for time in times):
        notes.append(
            "the infinite-depth kernel is unbounded: any fixed learning rate trains every "
            "mode at once, so every t > 0 gives the t = ∞ prediction"
        )
    if prepared.kriging and any(0 < time < math.inf for time in times):
        notes.append(
            "ordered infinite depth: at finite t only the constant mode 11ᵀ has learned "
            "(the deviation modes have λ → 0); t = ∞ is the kriging limit — the two limits "
            "do not commute"
        )
    mean, train = solver.predict(y, log10_eta_t)
    estimate = solver.log10_condition_estimate
    if spectrum is None and estimate is not None:
        # t = ∞ only: LAPACK's O(n²) estimate from the Cholesky factor (within a factor ~n)
        bounded = max(estimate, 0.0)
        log10_kappa: float | None = bounded
        kappa = 10.0**bounded if bounded < 300 else None
        lower = False
        approx = "≈ "
    else:
        kappa, log10_kappa, lower = condition(spectrum or solver.spectrum())
        approx = "≥ " if lower else ""
    if solver.solver:
        warnings.append(f"solver: {solver.solver}")
    if log10_kappa is not None:
        warnings.append(f"condition number of the training kernel: {approx}10^{log10_kappa:.2f}")
    if lower:
        warnings.append(
            "the training kernel is singular to float64 precision: the t = ∞ solution uses "
            "the modes that float64 resolves"
        )
    eta_out = None if not finite_times or log10_eta == math.inf else _finite_or_none(log10_eta - s)
    return PredictionResult(
        t=list(times),
        mean=_finite(mean),
        train_mean=_finite(train),
        warnings=warnings,
        kernel=kernel,
        solver=solver.solver,
        learning_rate=eta_out,
        condition_number=kappa,
        log10_condition_number=log10_kappa,
        condition_number_is_lower_bound=lower,
        notes=notes,
    )


def condition(spectrum: Spectrum) -> tuple[float | None, float | None, bool]:
    """(κ or None beyond float64, log10 κ or None if κ = ∞ with nothing resolved, is bound)."""
    log_values = spectrum.log10_values()
    log_max = float(np.max(log_values))
    if log_max == -math.inf:
        return None, None, True
    resolved = spectrum.resolved & np.isfinite(log_values)
    lower = not bool(np.all(resolved))
    if lower:
        noise_log = log10_or_neg_inf(spectrum.noise) + spectrum.noise_log10_unit
        log_min = noise_log if math.isfinite(noise_log) else None
    else:
        log_min = float(np.min(log_values))
    if log_min is None:
        return None, None, True
    log_kappa = max(log_max - log_min, 0.0)
    kappa = 10.0**log_kappa if log_kappa < 300 else None
    return kappa, log_kappa, lower


def _log10_rate(learning_rate: float | None, log10_scale: float, lam_max: float) -> float:
    """log10 of η in normalised units (η·10^s); default 2/λ_max."""
    if learning_rate is None:
        return math.log10(2.0 / lam_max)
    return math.log10(learning_rate) + log10_scale


def _finite(a: np.ndarray) -> np.ndarray:
    if not np.all(np.isfinite(a)):
        raise NumericalError("the prediction is not finite in float64 for this input")
    return a


def _finite_or_none(log10_value: float) -> float | None:
    return 10.0**log10_value if abs(log10_value) < 300 else None


def _validate(
    x_train: Any, y_train: Any, x_test: Any, kernel: str, t: Sequence[float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[float]]:
    if kernel not in KERNELS:
        raise InvalidInputError(f"kernel must be one of {KERNELS}, got {kernel!r}", field="kernel")
    xtr = _matrix(x_train, "x_train")
    xte = _matrix(x_test, "x_test")
    if xte.shape[1] != xtr.shape[1]:
        raise InvalidInputError(
            f"x_test has {xte.shape[1]} features but x_train has {xtr.shape[1]}", field="x_test"
        )
    y = np.asarray(y_train, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[0] != xtr.shape[0] or y.shape[1] == 0:
        raise InvalidInputError(
            f"y_train must be [n] or [n, k] with n = {xtr.shape[0]} rows", field="y_train"
        )
    if not np.all(np.isfinite(y)):
        raise InvalidInputError("y_train must be finite", field="y_train")
    times = [float(time) for time in t]
    if not times or any(math.isnan(time) or time < 0 for time in times):
        raise InvalidInputError("t must be a non-empty list of times >= 0 (or inf)", field="t")
    return xtr, y, xte, times


def _matrix(x: Any, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise InvalidInputError(f"{name} must be a non-empty [n, d] matrix", field=name)
    if not np.all(np.isfinite(a)):
        raise InvalidInputError(f"{name} must be finite", field=name)
    return a
