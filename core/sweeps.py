"""Trainability and generalization maps over a (σ_w², depth) grid (MATH.md §4–5).

For one activation and σ_b², each σ_w² of an axis and each depth of a list: train the
infinitely wide network on (x_train, y_train) by gradient flow on the NTK with
η = 2/λ_max(Θ(X,X)) and report, for each training time t, the train and test losses (and
argmax accuracies for class labels), κ(Θ(X,X)), and per σ_w² the depth scales

    ξ₁ = −1/ln χ₁                      (ordered phase; null elsewhere)
    ξ* = −1/(ln χ_c* − ln χ₁)          (chaotic phase; null elsewhere)

that the paper overlays on the maps: deep ordered networks stop training within a fixed t
beyond a few ξ₁ (κ grows like 1/(l χ₁^l)); deep chaotic networks fit the training set but
their test predictions collapse to 0, the mean of mean-centred targets, beyond a few ξ*.

Conventions
- Loss: mean over points and outputs of (f − y)². Times t are in units of 1/η, so mode i
  learns as 1 − e^{−2 t λ_i/λ_max}: t is scale-free (see core/predictions.py).
- Targets: integer y_train [n] (class labels) or one-hot rows [n][k] mean class labels; the
  regression targets are then the mean-centred one-hot vectors e_c − 1/K over the K classes
  (the sorted distinct labels of y_train and y_test), and accuracy is argmax accuracy.
  Any other y_train [n] or [n][k] is a regression target, and accuracies are None.
- Condition numbers as in core/spectra.py: a lower bound (flagged) where float64 cannot
  resolve λ_min, the largest float64 where κ exceeds the range (exact log10 alongside).
- Deep chaotic networks: Θ(x, X)/Θ(x, x) → 0 for x ∉ X and the differences between training
  points that a test prediction is made of fall below float64's resolution of the deficit
  after ~36 ξ*. There ``test_resolved`` is False: the test predictions are rounding noise
  around the mean (the test loss, mean(y²) to float64 precision, stays valid) and the test
  accuracy is NaN (JSON null), not the accuracy of noise.

Work split (for jobs): :func:`sweep_problem` validates once; :func:`sweep_row` computes one
σ_w² row for every depth and time (one kernel recursion serves every depth; one
eigendecomposition per depth serves every finite t) and needs nothing but the problem and
the row index, so rows can run in separate processes; :func:`merge_rows` assembles the rows
in σ_w² order into the :class:`SweepResult`; :func:`sweep` does all of it with progress.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.activations import Activation
from core.errors import InvalidInputError
from core.fixed_points import (
    CHAOTIC,
    ORDERED,
    PHASE_LABELS,
    check_sigma_b2,
    check_sigma_w2,
    solve_mean_field,
)
from core.kernels import kernel_states
from core.linalg import DeviationKernel, KernelSolver, Spectrum, log10_or_neg_inf
from core.network import Network
from core.predictions import condition, deviation_blocks, log10_eta_times

FLOAT_MAX = float(np.finfo(np.float64).max)
RESOLUTION = 1e-11
"""A test point's kernel row is resolved when its deficits relative to √(g_x g_a) differ
across the training points a by more than this fraction of their size (the rounding floor
of the recursion is ~1e-13)."""
Progress = Callable[[float], None] | None


@dataclass(frozen=True)
class SweepProblem:
    """Validated inputs of a sweep (plain arrays: picklable, cheap to ship to a worker).

    y_train [n, k], y_test [m, k] are the regression targets (mean-centred one-hot vectors
    for class labels); labels_train [n], labels_test [m] are class indices into ``classes``
    (None for regression). ``t`` holds math.inf for t = ∞; ``depths`` are sorted, distinct.
    """

    activation: Activation
    sigma_b2: float
    sigma_w2: np.ndarray
    depths: list[int]
    x_train: np.ndarray
    x_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    t: list[float]
    classes: list[float] | None = None
    labels_train: np.ndarray | None = None
    labels_test: np.ndarray | None = None


@dataclass(frozen=True)
class SweepRow:
    """One σ_w² of the grid: arrays over [len(t), len(depths)] or [len(depths)]."""

    sigma_w2: float
    train_loss: np.ndarray
    test_loss: np.ndarray
    train_accuracy: np.ndarray | None
    test_accuracy: np.ndarray | None
    condition_number: np.ndarray
    log10_condition_number: np.ndarray  # NaN where κ = ∞ exactly
    condition_number_is_lower_bound: np.ndarray
    test_resolved: np.ndarray  # [len(depths)] bool
    chi_1: float  # NaN where undefined
    chi_c_star: float
    xi_1: float
    xi_star: float
    phase: str | None
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SweepResult:
    """The grid: losses/accuracies [len(t), num_w2, len(depths)]; κ [num_w2, len(depths)];
    χ₁, χ_c*, ξ₁, ξ*, phase per σ_w² (NaN / None where they do not exist)."""

    activation: dict[str, Any]
    sigma_b2: float
    sigma_w2: np.ndarray
    depths: list[int]
    t: list[float]
    classes: int | None
    train_loss: np.ndarray
    test_loss: np.ndarray
    train_accuracy: np.ndarray | None
    test_accuracy: np.ndarray | None
    condition_number: np.ndarray
    log10_condition_number: np.ndarray
    condition_number_is_lower_bound: np.ndarray
    test_resolved: np.ndarray
    chi_1: np.ndarray
    chi_c_star: np.ndarray
    xi_1: np.ndarray
    xi_star: np.ndarray
    phase: list[str | None]
    warnings: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "activation": self.activation,
            "sigma_b2": self.sigma_b2,
            "sigma_w2": self.sigma_w2,
            "depths": list(self.depths),
            "t": ["inf" if math.isinf(t) else t for t in self.t],
            "classes": self.classes,
            "train_loss": self.train_loss,
            "test_loss": self.test_loss,
            "train_accuracy": self.train_accuracy,
            "test_accuracy": self.test_accuracy,
            "condition_number": self.condition_number,
            "log10_condition_number": self.log10_condition_number,
            "condition_number_is_lower_bound": self.condition_number_is_lower_bound,
            "test_resolved": self.test_resolved,
            "chi_1": self.chi_1,
            "chi_c_star": self.chi_c_star,
            "xi_1": self.xi_1,
            "xi_star": self.xi_star,
            "phase": list(self.phase),
            "warnings": list(self.warnings),
        }


# ------------------------------------------------------------------------------ validation
def sweep_problem(
    activation: Activation,
    sigma_b2: float,
    sigma_w2: Sequence[float] | np.ndarray,
    depths: Sequence[int],
    x_train: Any,
    y_train: Any,
    x_test: Any,
    y_test: Any,
    t: Sequence[float] = (math.inf,),
) -> SweepProblem:
    """Validate a sweep and build its targets (raises InvalidInputError naming the field).

    y_train/y_test: integer arrays [n] (class labels) or one-hot [n][k] mean class labels
    (both must then be labels); anything else numeric, [n] or [n][k], is regression.
    """
    b2 = check_sigma_b2(sigma_b2)
    w2 = np.asarray(sigma_w2, dtype=np.float64).ravel()
    if w2.size == 0:
        raise InvalidInputError("sigma_w2 must hold at least one value", field="sigma_w2")
    w2 = np.array([check_sigma_w2(float(v)) for v in w2])
    depth_list = _depths(depths)
    xtr = _matrix(x_train, "x_train")
    xte = _matrix(x_test, "x_test")
    if xte.shape[1] != xtr.shape[1]:
        raise InvalidInputError(
            f"x_test has {xte.shape[1]} features but x_train has {xtr.shape[1]}", field="x_test"
        )
    times = [float(time) for time in t]
    if not times or any(math.isnan(time) or time < 0 for time in times):
        raise InvalidInputError("t must be a non-empty list of times >= 0 (or inf)", field="t")
    ytr_raw, yte_raw = np.asarray(y_train), np.asarray(y_test)
    _check_rows(ytr_raw, xtr.shape[0], "y_train", "x_train")
    _check_rows(yte_raw, xte.shape[0], "y_test", "x_test")
    train_labels = _labels(ytr_raw)
    test_labels = _labels(yte_raw)
    common = dict(
        activation=activation,
        sigma_b2=b2,
        sigma_w2=w2,
        depths=depth_list,
        x_train=xtr,
        x_test=xte,
        t=times,
    )
    if train_labels is None:
        if test_labels is not None and yte_raw.dtype.kind in "iu":
            raise InvalidInputError(
                "y_test holds integer class labels but y_train does not", field="y_test"
            )
        ytr, yte = _targets(ytr_raw), _targets(yte_raw)
        if yte.shape[1] != ytr.shape[1]:
            raise InvalidInputError(
                f"y_test has {yte.shape[1]} outputs per row but y_train has {ytr.shape[1]}",
                field="y_test",
            )
        return SweepProblem(**common, y_train=ytr, y_test=yte)  # type: ignore[arg-type]
    if test_labels is None:
        raise InvalidInputError(
            "y_train holds class labels (integers or one-hot rows), so y_test must too",
            field="y_test",
        )
    onehot_train, onehot_test = ytr_raw.ndim == 2, yte_raw.ndim == 2
    if onehot_train != onehot_test or (onehot_train and ytr_raw.shape[1] != yte_raw.shape[1]):
        raise InvalidInputError(
            "y_test must encode classes like y_train (both integer labels, or one-hot rows of "
            "the same width)",
            field="y_test",
        )
    if onehot_train:
        classes = [float(c) for c in range(ytr_raw.shape[1])]
    else:
        classes = [float(c) for c in np.union1d(train_labels, test_labels)]
    if len(classes) < 2:
        raise InvalidInputError("class labels need at least two classes", field="y_train")
    index_train = np.searchsorted(np.asarray(classes), train_labels)
    index_test = np.searchsorted(np.asarray(classes), test_labels)
    k = len(classes)
    return SweepProblem(
        **common,  # type: ignore[arg-type]
        y_train=np.eye(k)[index_train] - 1.0 / k,
        y_test=np.eye(k)[index_test] - 1.0 / k,
        classes=classes,
        labels_train=index_train,
        labels_test=index_test,
    )


def _depths(depths: Sequence[int]) -> list[int]:
    out = []
    for d in depths:
        if isinstance(d, bool) or not isinstance(d, int | np.integer) or d < 1:
            raise InvalidInputError("depths must be integers >= 1", field="depths")
        out.append(int(d))
    if not out:
        raise InvalidInputError("depths must not be empty", field="depths")
    return sorted(set(out))


def _matrix(x: Any, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise InvalidInputError(f"{name} must be a non-empty [n, d] matrix", field=name)
    if not np.all(np.isfinite(a)):
        raise InvalidInputError(f"{name} must be finite", field=name)
    return a


def _check_rows(y: np.ndarray, rows: int, name: str, x_name: str) -> None:
    if y.ndim not in (1, 2) or y.shape[0] != rows or (y.ndim == 2 and y.shape[1] == 0):
        raise InvalidInputError(
            f"{name} must be [n] or [n, k] with one row per row of {x_name} ({rows})", field=name
        )
    if y.dtype.kind not in "iuf" or not np.all(np.isfinite(y)):
        raise InvalidInputError(f"{name} must hold finite numbers", field=name)


def _labels(y: np.ndarray) -> np.ndarray | None:
    """Class labels of y: integer dtype [n] (the labels), or one-hot [n][k≥2] (the argmax)."""
    if y.ndim == 1:
        return y.astype(np.float64) if y.dtype.kind in "iu" else None
    if y.shape[1] >= 2 and np.all((y == 0) | (y == 1)) and np.all(y.sum(axis=1) == 1):
        return np.argmax(y, axis=1).astype(np.float64)
    return None


def _targets(y: np.ndarray) -> np.ndarray:
    out = np.asarray(y, dtype=np.float64)
    return out[:, None] if out.ndim == 1 else out


# ------------------------------------------------------------------------------ compute
def sweep(problem: SweepProblem, progress: Progress = None) -> SweepResult:
    """Every row of the grid, merged; progress after each row (and within it)."""
    rows = []
    num = problem.sigma_w2.size
    for i in range(num):
        row_progress = None if progress is None else _scaled(progress, i / num, 1 / num)
        rows.append(sweep_row(problem, i, row_progress))
    return merge_rows(problem, rows)


def sweep_row(problem: SweepProblem, index: int, progress: Progress = None) -> SweepRow:
    """The σ_w² = problem.sigma_w2[index] row: every depth and time, from one recursion.

    The kernel recursion runs once to the largest depth, keeping the NTK in the deviation
    representation at each requested depth (core/kernels.py); at each depth one
    eigendecomposition of Θ(X, X) (core/linalg.py) serves every finite t, and t = ∞ is a
    Cholesky solve.
    """

    if not 0 <= index < problem.sigma_w2.size:
        raise InvalidInputError(f"row index {index} is outside the σ_w² axis", field="index")
    sigma_w2 = float(problem.sigma_w2[index])
    network = Network(problem.activation, sigma_w2, problem.sigma_b2, max(problem.depths))
    n = problem.x_train.shape[0]
    x_all = np.vstack([problem.x_train, problem.x_test])
    recursion = None if progress is None else _scaled(progress, 0.0, 0.5)
    states = kernel_states(
        network, problem.x_train, x_all, depths=problem.depths, progress=recursion
    )
    shape = (len(problem.t), len(problem.depths))
    train_loss, test_loss = np.zeros(shape), np.zeros(shape)
    train_acc, test_acc = np.zeros(shape), np.zeros(shape)
    kappa = np.zeros(len(problem.depths))
    log_kappa = np.zeros(len(problem.depths))
    lower = np.zeros(len(problem.depths), dtype=bool)
    resolved = np.ones(len(problem.depths), dtype=bool)
    singular: list[int] = []
    for j, state in enumerate(states):
        dev, _ = deviation_blocks(state.ntk, n)
        resolved[j] = _test_rows_resolved(dev)
        solver = KernelSolver(_normalised(dev))
        spectrum = solver.spectrum()
        k, log_k, is_bound = condition(spectrum)
        kappa[j] = k if k is not None else FLOAT_MAX
        log_kappa[j] = log_k if log_k is not None else math.nan
        lower[j] = is_bound or k is None
        if is_bound:
            singular.append(problem.depths[j])
        mean, train = solver.predict(problem.y_train, _log10_eta_t(spectrum, problem.t))
        train_loss[:, j] = np.mean((train - problem.y_train) ** 2, axis=(1, 2))
        test_loss[:, j] = np.mean((mean - problem.y_test) ** 2, axis=(1, 2))
        if problem.labels_train is not None and problem.labels_test is not None:
            train_acc[:, j] = np.mean(np.argmax(train, axis=2) == problem.labels_train, axis=1)
            test_acc[:, j] = np.mean(np.argmax(mean, axis=2) == problem.labels_test, axis=1)
        if not resolved[j]:
            test_acc[:, j] = math.nan
        if progress is not None:
            progress(0.5 + 0.5 * (j + 1) / len(states))
    mf = solve_mean_field(problem.activation, np.array([sigma_w2]), np.array([problem.sigma_b2]))
    chi_1, chi_c, phase_code = float(mf.chi_1[0]), float(mf.chi_c_star[0]), int(mf.phase[0])
    warnings = []
    if singular:
        warnings.append(
            f"σ_w² = {sigma_w2:g}: Θ(X,X) is singular to float64 at depths {singular} "
            "(κ is a lower bound; t = ∞ is the flow's limit on its resolved modes, "
            "see core/linalg.py)"
        )
    if not np.all(resolved):
        depths = [d for d, ok in zip(problem.depths, resolved, strict=True) if not ok]
        warnings.append(
            f"σ_w² = {sigma_w2:g}: test predictions below float64 resolution at depths "
            f"{depths} (collapsed to the mean; test accuracy null)"
        )
    labelled = problem.labels_train is not None
    return SweepRow(
        sigma_w2=sigma_w2,
        train_loss=_finite(train_loss),
        test_loss=_finite(test_loss),
        train_accuracy=train_acc if labelled else None,
        test_accuracy=test_acc if labelled else None,
        condition_number=kappa,
        log10_condition_number=log_kappa,
        condition_number_is_lower_bound=lower,
        test_resolved=resolved,
        chi_1=chi_1,
        chi_c_star=chi_c,
        xi_1=_depth_scale(chi_1) if phase_code == ORDERED else math.nan,
        xi_star=_depth_scale(chi_c / chi_1) if phase_code == CHAOTIC else math.nan,
        phase=PHASE_LABELS[phase_code] if phase_code >= 0 else None,
        warnings=warnings,
    )


def merge_rows(problem: SweepProblem, rows: Sequence[SweepRow]) -> SweepResult:
    """Assemble the rows of every σ_w² (in axis order, one each) into the result."""
    if len(rows) != problem.sigma_w2.size or any(
        row.sigma_w2 != float(w2) for row, w2 in zip(rows, problem.sigma_w2, strict=True)
    ):
        raise InvalidInputError(
            "merge_rows needs exactly one row per σ_w² of the axis, in order", field="rows"
        )
    labelled = problem.labels_train is not None

    def stack(name: str, axis: int) -> np.ndarray:
        return np.stack([getattr(row, name) for row in rows], axis=axis)

    def column(name: str) -> np.ndarray:
        return np.array([getattr(row, name) for row in rows], dtype=np.float64)

    return SweepResult(
        activation=problem.activation.spec(),
        sigma_b2=problem.sigma_b2,
        sigma_w2=problem.sigma_w2.copy(),
        depths=list(problem.depths),
        t=list(problem.t),
        classes=None if problem.classes is None else len(problem.classes),
        train_loss=stack("train_loss", 1),
        test_loss=stack("test_loss", 1),
        train_accuracy=stack("train_accuracy", 1) if labelled else None,
        test_accuracy=stack("test_accuracy", 1) if labelled else None,
        condition_number=stack("condition_number", 0),
        log10_condition_number=stack("log10_condition_number", 0),
        condition_number_is_lower_bound=stack("condition_number_is_lower_bound", 0),
        test_resolved=stack("test_resolved", 0),
        chi_1=column("chi_1"),
        chi_c_star=column("chi_c_star"),
        xi_1=column("xi_1"),
        xi_star=column("xi_star"),
        phase=[row.phase for row in rows],
        warnings=[warning for row in rows for warning in row.warnings],
    )


def _test_rows_resolved(dev: DeviationKernel) -> bool:
    """Whether every test row of the deficit, relative to √(g_x g_a), varies across the
    training points a by more than RESOLUTION of its size (else it is rounding noise)."""
    if dev.v.size < 2 or dev.u.size == 0:
        return True
    scale = np.outer(dev.u, dev.v)
    ratio = np.divide(dev.b_cross, scale, out=np.zeros_like(dev.b_cross), where=scale > 0)
    size = np.max(np.abs(ratio), axis=1)
    return bool(np.all((size == 0) | (np.ptp(ratio, axis=1) > RESOLUTION * size)))


def _normalised(dev: DeviationKernel) -> DeviationKernel:
    """The same kernel with max|B_X| scaled to [1/2, 1) by a power of two (exact) and the
    factor moved into τ: the structured solver of core/linalg.py decides on τ alone, while
    core/kernels.py rescales the deficit only once it underflows."""
    size = float(np.max(np.abs(dev.b_train))) if dev.b_train.size else 0.0
    if size == 0.0 or not math.isfinite(dev.log10_tau):
        return dev
    exponent = math.frexp(size)[1]
    return DeviationKernel(
        v=dev.v,
        u=dev.u,
        b_train=np.ldexp(dev.b_train, -exponent),
        b_cross=np.ldexp(dev.b_cross, -exponent),
        log10_tau=dev.log10_tau + exponent * math.log10(2.0),
    )


def _log10_eta_t(spectrum: Spectrum, times: list[float]) -> list[float]:
    """log10(η t) in the kernel's normalised units, η = 2/λ_max (+inf: t = ∞, −inf: t = 0)."""
    lam_max = float(np.max(spectrum.values * np.power(10.0, np.minimum(spectrum.log10_units, 0))))
    log10_eta = log10_or_neg_inf(2.0 / lam_max) if lam_max > 0 else math.inf
    return log10_eta_times(log10_eta, times)


def _depth_scale(ratio: float) -> float:
    """−1/ln(ratio) for 0 < ratio < 1, NaN otherwise."""
    if not (math.isfinite(ratio) and 0.0 < ratio < 1.0):
        return math.nan
    return -1.0 / math.log(ratio)


def _scaled(
    progress: Callable[[float], None], start: float, width: float
) -> Callable[[float], None]:
    return lambda fraction: progress(start + width * min(max(fraction, 0.0), 1.0))


def _finite(a: np.ndarray) -> np.ndarray:
    if not np.all(np.isfinite(a)):
        raise AssertionError("non-finite loss: a bug in the solver")
    return a
