"""Eigenvalues of Σ^l(X, X) and Θ^l(X, X) against depth, beside MATH.md §4's predictions.

Conventions
- Eigenvalues are reported in units of 10^log10_scale (the kernel's own log10 scale, so
  chaotic kernels beyond float64 stay finite); ``log10_lambda_*`` give the exact log10 of
  the true values even where λ_min underflows in those units.
- λ_min comes from the deviation representation (core/linalg.py): in the ordered phase the
  small eigenvalues are those of the deficit block off the rank-one mode, resolved to the
  relative accuracy of that block, far below n·eps·λ_max. Where even that cannot resolve
  them (duplicate inputs, the infinite-depth p*11ᵀ), ``lambda_min`` is the resolution (an
  upper bound), ``condition_number`` a lower bound and ``condition_number_is_lower_bound``
  is set. κ beyond the float64 range is reported as the largest float64 (a valid lower
  bound, flagged the same way) with the exact value in ``log10_condition_number``.
- Critical line: MATH.md §4 quotes κ(Θ) → (n+2)/2. With Θ^l_ab/Θ^l_aa → r and
  1 − Σ̇^l_ab ≈ k/l one gets r = 1/(1+k) and κ → (n+k)/k. A smooth φ has
  f(1−δ) = 1 − δ + O(δ²) so k = 2 and (n+2)/2 holds; a relu-like φ has
  f(1−δ) = 1 − δ + O(δ^{3/2}), θ_l ≈ 3π/l, k = 3 and κ → (n+3)/3. In general with
  1 − f'(1−δ) ∝ δ^{γ−1}, k = γ/(γ−1); γ is estimated from f' near c = 1. Both hold for
  inputs of equal norm.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.errors import InvalidInputError
from core.fixed_points import FixedPoints, fixed_points, is_scale_free
from core.kernels import kernel_states
from core.linalg import KernelSolver, Spectrum
from core.network import Network
from core.predictions import condition, deviation_blocks

FLOAT_MAX = float(np.finfo(np.float64).max)


@dataclass(frozen=True)
class KernelSpectrum:
    """One kernel's spectrum per depth (arrays of length len(depths))."""

    lambda_max: np.ndarray
    lambda_min: np.ndarray
    condition_number: np.ndarray
    condition_number_is_lower_bound: np.ndarray
    log10_scale: np.ndarray
    log10_lambda_max: np.ndarray
    log10_lambda_min: np.ndarray  # NaN where λ_min = 0 exactly (infinite depth)
    log10_condition_number: np.ndarray  # NaN where κ = ∞ exactly
    eigenvalues: np.ndarray | None = None  # [len(depths), n] ascending, units 10^log10_scale

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "lambda_max": self.lambda_max,
            "lambda_min": self.lambda_min,
            "condition_number": self.condition_number,
            "condition_number_is_lower_bound": self.condition_number_is_lower_bound,
            "log10_scale": self.log10_scale,
            "log10_lambda_max": self.log10_lambda_max,
            "log10_lambda_min": self.log10_lambda_min,
            "log10_condition_number": self.log10_condition_number,
        }
        if self.eigenvalues is not None:
            out["eigenvalues"] = self.eigenvalues
        return out


@dataclass(frozen=True)
class SpectraResult:
    """depths: the depths (None = infinite depth); ntk, nngp: spectra; theory: MATH.md §4."""

    depths: list[int | None]
    ntk: KernelSpectrum
    nngp: KernelSpectrum
    theory: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "depths": ["inf" if d is None else d for d in self.depths],
            "ntk": self.ntk.to_dict(),
            "nngp": self.nngp.to_dict(),
            "theory": self.theory,
            "notes": list(self.notes),
        }


def spectra(
    network: Network,
    x: Any,
    depths: Sequence[int] | None = None,
    *,
    eigenvalues: bool = False,
    progress: Callable[[float], None] | None = None,
) -> SpectraResult:
    """Spectra of the NTK and NNGP on x [n, d] at each depth (default: the network's depth).

    With ``network.depth is None`` and no depths, the infinite-depth limit kernels
    (core/infinite_depth.py) are used.
    """
    xs = np.asarray(x, dtype=np.float64)
    if xs.ndim != 2 or xs.shape[0] == 0 or xs.shape[1] == 0 or not np.all(np.isfinite(xs)):
        raise InvalidInputError("x must be a non-empty finite [n, d] matrix", field="x")
    depth_list = _depths(network, depths)
    notes: list[str] = []
    per_kernel: dict[str, list[tuple[Spectrum, float]]] = {"ntk": [], "nngp": []}
    finite = [d for d in depth_list if d is not None]
    if finite:
        deepest = dataclasses.replace(network, depth=max(finite))
        states = kernel_states(deepest, xs, None, depths=finite, progress=progress)
        for state in states:
            for name in ("ntk", "nngp"):
                dev, scale = deviation_blocks(getattr(state, name), xs.shape[0])
                per_kernel[name].append((KernelSolver(dev).spectrum(), scale))
    else:
        from core.infinite_depth import limit_kernel

        empty = xs[:0]
        for name in ("ntk", "nngp"):
            prepared = limit_kernel(network, xs, empty, name, progress=progress)
            notes.extend(note for note in prepared.notes if note not in notes)
            limit = prepared.kernel  # ordered: k*11ᵀ (τ = 0), its deviation directions A
            scale = prepared.log10_scale if math.isfinite(prepared.log10_scale) else 0.0
            per_kernel[name].append((KernelSolver(limit).spectrum(), scale))
    fp = fixed_points(network.activation, network.sigma_w2, network.sigma_b2)
    return SpectraResult(
        depths=depth_list,
        ntk=_collect(per_kernel["ntk"], eigenvalues),
        nngp=_collect(per_kernel["nngp"], eigenvalues),
        theory=theory(network, fp, xs.shape[0], depth_list),
        notes=notes,
    )


def _depths(network: Network, depths: Sequence[int] | None) -> list[int | None]:
    if depths is None:
        return [network.depth]
    out: list[int | None] = []
    for d in depths:
        if isinstance(d, bool) or int(d) != d or d < 1:
            raise InvalidInputError("depths must be integers >= 1", field="depths")
        if network.depth is not None and d > network.depth:
            raise InvalidInputError(
                f"depth {d} exceeds the network's depth {network.depth}", field="depths"
            )
        out.append(int(d))
    if not out:
        raise InvalidInputError("depths must not be empty", field="depths")
    return out


def _collect(items: list[tuple[Spectrum, float]], with_eigenvalues: bool) -> KernelSpectrum:
    lam_max, lam_min, kappa, lower, scales = [], [], [], [], []
    log_max, log_min, log_kappa, eigs = [], [], [], []
    for spectrum, scale in items:
        logs = spectrum.log10_values()
        top = float(np.max(logs))
        resolved = spectrum.resolved & np.isfinite(logs)
        k, log_k, is_bound = condition(spectrum)
        if bool(np.all(resolved)):
            bottom = float(np.min(logs))
        else:
            noise = spectrum.noise * 10.0 ** max(spectrum.noise_log10_unit, -400.0)
            bottom = math.log10(noise) if noise > 0 else math.nan
        lam_max.append(10.0**top)
        lam_min.append(10.0**bottom if math.isfinite(bottom) else 0.0)
        log_max.append(top + scale)
        log_min.append(bottom + scale if math.isfinite(bottom) else math.nan)
        log_kappa.append(log_k if log_k is not None else math.nan)
        kappa.append(k if k is not None else FLOAT_MAX)
        lower.append(is_bound or k is None)
        scales.append(scale)
        if with_eigenvalues:
            units = np.maximum(spectrum.log10_units, -400.0)
            eigs.append(np.maximum(spectrum.values, 0.0) * np.power(10.0, units))
    return KernelSpectrum(
        lambda_max=np.array(lam_max),
        lambda_min=np.array(lam_min),
        condition_number=np.array(kappa),
        condition_number_is_lower_bound=np.array(lower, dtype=bool),
        log10_scale=np.array(scales),
        log10_lambda_max=np.array(log_max),
        log10_lambda_min=np.array(log_min),
        log10_condition_number=np.array(log_kappa),
        eigenvalues=np.array(eigs) if with_eigenvalues else None,
    )


def theory(network: Network, fp: FixedPoints, n: int, depths: list[int | None]) -> dict[str, Any]:
    """The phase and MATH.md §4's large-depth predictions for n inputs at these depths."""
    out: dict[str, Any] = {
        "phase": fp.phase,
        "n": n,
        "chi_1": fp.chi_1,
        "q_star": fp.q_star,
        "p_star": fp.p_star,
        "c_star": fp.c_star,
        "chi_c_star": fp.chi_c_star,
        "notes": list(fp.notes),
    }
    chi = fp.chi_1
    if fp.phase == "ordered" and chi is not None and chi > 0.0:
        out["ntk_lambda_max_limit"] = None if fp.p_star is None else n * fp.p_star
        out["nngp_lambda_max_limit"] = None if fp.q_star is None else n * fp.q_star
        out["ntk_condition_number_limit"] = None
        out["nngp_condition_number_limit"] = None
        # λ_bulk ∝ l χ₁^l (smooth φ) or χ₁^{l/2} (relu-like φ, a kink at 0), κ(Θ) ∝ 1/λ_bulk:
        # the predicted log10, up to a data-dependent constant
        kink = _kink_exponent(network, fp.q_star) == 0.5
        out["ntk_bulk_law"] = "chi_1^(l/2)" if kink else "l*chi_1^l"
        rates = [
            None
            if d is None
            else (d * math.log10(chi) / 2 if kink else math.log10(d) + d * math.log10(chi))
            for d in depths
        ]
        out["ntk_log10_lambda_bulk_rate"] = rates
        out["ntk_log10_condition_number_rate"] = [None if r is None else -r for r in rates]
        out["summary"] = (
            "ordered: Θ → p* 11ᵀ, λ_max → n p*, the bulk → 0 like l χ₁^l, κ(Θ) grows like "
            "1/(l χ₁^l) (untrainable); Σ → q* 11ᵀ, κ(Σ) → ∞. For relu-like φ the kink makes "
            "the NTK deviations scale like χ₁^{l/2} (MATH.md §6). Rates hold up to a "
            "data-dependent constant."
        )
    elif fp.phase == "chaotic" and chi is not None:
        c = fp.c_star
        out["ntk_condition_number_limit"] = 1.0
        out["nngp_condition_number_limit"] = (
            None if c is None or c >= 1 else ((n - 1) * c + 1) / (1 - c)
        )
        out["ntk_log10_growth"] = [None if d is None else d * math.log10(chi) for d in depths]
        out["summary"] = (
            "chaotic: Θ grows like χ₁^l with Θ/p_aa → I, κ(Θ) → 1 (trainable); "
            "Σ → q*(c* 11ᵀ + (1 − c*) I), κ(Σ) → ((n−1)c* + 1)/(1 − c*) for inputs of equal "
            "norm; predictions off the training set → 0 (no generalization)."
        )
    elif fp.phase == "critical":
        k = _critical_k(network, fp)
        out["ntk_condition_number_limit"] = None if k is None else (n + k) / k
        out["critical_k"] = k
        out["summary"] = (
            "critical: Θ^l grows like l, Θ_ab/Θ_aa → 1/(1+k) and κ(Θ) → (n+k)/k, approached "
            "polynomially; k = 2 ((n+2)/2, MATH.md) for smooth φ, k = 3 for relu-like φ "
            "(θ_l ≈ 3π/l), estimated here from f' near c = 1."
        )
    return out


def _critical_k(network: Network, fp: FixedPoints) -> float | None:
    """k = γ/(γ−1) with γ − 1 the exponent of 1 − f'(1 − δ) ∝ δ^{γ−1}."""
    exponent = _kink_exponent(network, fp.q_star)
    return None if exponent is None else (exponent + 1.0) / exponent


def _kink_exponent(network: Network, q_star: float | None) -> float | None:
    """γ − 1 in 1 − f'(1 − δ)/f'(1) ∝ δ^{γ−1}, measured between δ = 1e-4 and 1e-6 at q*.

    1 for smooth φ, 1/2 for relu-like φ (a kink at 0); snapped to those within 0.05.
    """
    act = network.activation
    q = q_star if q_star is not None and q_star > 0 else None
    if q is None and is_scale_free(act):
        q = 1.0
    if q is None:
        return None
    deltas = np.array([1e-4, 1e-6])
    slope = np.asarray(act.derivative_correlation(q, q, q * (1.0 - deltas)), dtype=np.float64)
    at_one = float(np.asarray(act.derivative_correlation(q, q, q), dtype=np.float64))
    if at_one <= 0:
        return None
    drop = 1.0 - slope / at_one
    if not np.all(drop > 0):
        return None
    exponent = float(np.log(drop[0] / drop[1]) / np.log(deltas[0] / deltas[1]))
    for known in (0.5, 1.0):
        if abs(exponent - known) < 0.05:
            exponent = known
    return exponent if exponent > 0 else None
