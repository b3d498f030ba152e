"""Infinite-depth limits of the kernels and of kernel regression (MATH.md §6–7).

The limit kernel replaces Θ^L (or Σ^L) when ``network.depth is None``:

- **ordered** (χ₁ < 1): K^l = k* 11ᵀ + λ_l A^l with λ_l → 0 (k* = p* for the NTK, q* for the
  NNGP). At finite t only the mode 11ᵀ learns; t = ∞ is kriging with an unknown constant
  mean under A = lim A^l, which is invariant to A → c·A + u1ᵀ + 1uᵀ + const, so only the
  Cauchy–Schwarz deficit E of the deviation representation is needed, never k*.
  NNGP: E^l ∝ D χ₁^l (1 + O(χ₁^l)) (D_ab = lim (1 − c^l_ab)/χ₁^l), so A ∝ −E^L at a depth L
  where the corrections are below float64 resolution.
  NTK: E^l = χ₁^l (l α + β + …) for smooth φ: A^l reaches α only like 1/l. The resonant
  term is removed exactly by E^L − χ₁ E^{L−1} = χ₁^L α (1 + O(L χ₁^L)); for relu-like φ
  (E^l ∝ χ₁^{l/2} √D) the same difference is ∝ √D too. The extraction depth L is chosen
  from ξ₁, ξ_q so the neglected terms are ≲ 1e-13 relative.
- **chaotic** (χ₁ > 1): Θ^l/χ₁^l → diag-like C_a on groups of identical inputs (c = 1 is a
  fixed point; every other pair forgets its correlation), so f_∞ = 0 off the training
  set and = y on it; Σ^∞ = q*(c* 11ᵀ + (1 − c*) I) on distinct inputs.
- **critical**: no limit (NotDefinedError).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np

from core.errors import NotDefinedError
from core.fixed_points import FixedPoints, fixed_points
from core.kernels import kernel_states
from core.linalg import DeviationKernel
from core.network import Network
from core.predictions import PreparedKernel, deviation_blocks

MAX_EXTRACTION_DEPTH = 20000
"""Deepest layer computed to extract a limit; beyond it the neglected terms are reported."""

_DIGITS = 13.0  # neglected relative terms ≲ 10^-_DIGITS


def limit_kernel(
    network: Network,
    x_train: np.ndarray,
    x_test: np.ndarray,
    kernel: str,
    *,
    progress: Callable[[float], None] | None = None,
) -> PreparedKernel:
    """The infinite-depth kernel of (x_train, x_train), (x_test, x_train), normalised."""
    fp = _phase_or_raise(network)
    if fp.phase == "ordered":
        return _ordered(network, fp, x_train, x_test, kernel, progress)
    return _chaotic(network, fp, x_train, x_test, kernel, progress)


def extraction_depth(fp: FixedPoints) -> tuple[int, bool]:
    """Depth L at which the infinite-depth quantities are read off, and whether it was capped.

    Neglected terms decay like χ₁^{L/2} (relu-like φ), L χ₁^L (smooth φ) and L'(q*)^L.
    """
    scales = [s for s in (fp.xi_1, fp.xi_q) if s is not None and math.isfinite(s)]
    xi = max(scales) if scales else 1.0
    depth = math.ceil(2.0 * _DIGITS * math.log(10.0) * xi + 4.0 * math.log1p(xi) * xi) + 20
    if fp.phase == "chaotic" and fp.xi_q is not None:
        depth = math.ceil(_DIGITS * math.log(10.0) * fp.xi_q) + 20
    capped = depth > MAX_EXTRACTION_DEPTH
    return min(depth, MAX_EXTRACTION_DEPTH), capped


def chaotic_rate_note(fp: FixedPoints) -> str:
    chi_1 = fp.chi_1 or math.nan
    text = (
        f"chaotic phase (χ₁ = {chi_1:.6g} > 1): the infinite-depth prediction forgets the data — "
        "0 on every input not in the training set, the training labels on it; a depth-l "
        f"network approaches this like χ₁^(−l) = 10^({-math.log10(chi_1):.4g}·l)"
    )
    if fp.chi_c_star is not None and fp.chi_c_star > 0:
        ratio = fp.chi_c_star / chi_1
        text += (
            f", and like l·(χ_c*/χ₁)^l = l·{ratio:.6g}^l for inputs of equal norm and "
            "mean-centred labels"
        )
    return text


def _phase_or_raise(network: Network) -> FixedPoints:
    fp = fixed_points(network.activation, network.sigma_w2, network.sigma_b2)
    if fp.phase == "critical":
        raise NotDefinedError(
            "no infinite-depth limit exists on the order-to-chaos line (χ₁ = 1): the kernels "
            "approach their fixed point only polynomially in depth and the predictions keep "
            "changing with depth; give a finite depth",
            field="network.depth",
        )
    if fp.phase not in ("ordered", "chaotic") or fp.chi_1 is None:
        why = "; ".join(fp.notes) or "the mean-field fixed point does not exist"
        raise NotDefinedError(f"no infinite-depth limit: {why}", field="network.depth")
    return fp


def _ordered(
    network: Network,
    fp: FixedPoints,
    x_train: np.ndarray,
    x_test: np.ndarray,
    kernel: str,
    progress: Callable[[float], None] | None,
) -> PreparedKernel:

    level = fp.p_star if kernel == "ntk" else fp.q_star
    if level is None or fp.chi_1 is None:
        raise NotDefinedError(
            "no infinite-depth limit: the fixed point q* does not exist ("
            + "; ".join(fp.notes)
            + ")",
            field="network.depth",
        )
    depth, capped = extraction_depth(fp)
    n = x_train.shape[0]
    x_all = np.vstack([x_train, x_test])
    finite = dataclasses.replace(network, depth=depth)
    states = kernel_states(finite, x_train, x_all, depths=[depth - 1, depth], progress=progress)
    last, _ = deviation_blocks(getattr(states[1], kernel), n)
    a_train, a_cross = -last.b_train, -last.b_cross  # E (train, cross) in units 10^(s+t)
    if kernel == "ntk":
        prev, _ = deviation_blocks(getattr(states[0], kernel), n)
        s_last = float(getattr(states[1], kernel).log10_scale) + last.log10_tau
        s_prev = float(getattr(states[0], kernel).log10_scale) + prev.log10_tau
        factor = fp.chi_1 * 10.0 ** (s_prev - s_last) if s_prev - s_last < 300 else math.inf
        if not math.isfinite(factor):
            raise NotDefinedError(
                "the deviations did not shrink between the last two extraction layers",
                field="network.depth",
            )
        a_train = a_train - factor * (-prev.b_train)
        a_cross = a_cross - factor * (-prev.b_cross)
    peak = float(np.max(np.abs(a_train))) if a_train.size else 0.0
    if peak == 0.0 and n > 1:
        notes = ["every training input is the same point: the limit is the label mean"]
        peak = 1.0
    else:
        notes = []
    root = math.sqrt(level)
    limit = DeviationKernel(
        v=np.full(n, root),
        u=np.full(x_test.shape[0], root),
        b_train=-a_train / max(peak, 1e-300),
        b_cross=-a_cross / max(peak, 1e-300),
        log10_tau=-math.inf,
    )
    form = (
        "A ∝ lim (Θ^l − p*11ᵀ)/(l χ₁^l), read off as E^L − χ₁E^(L−1) (resonant term removed)"
        if kernel == "ntk"
        else "A ∝ lim (Σ^l − q*11ᵀ)/χ₁^l, read off from the deficit at depth L"
    )
    notes.append(
        f"ordered phase (χ₁ = {fp.chi_1:.6g} < 1): t = ∞ is kriging with an unknown constant "
        f"mean under {form}, L = {depth}"
    )
    if capped:
        notes.append(
            f"extraction depth capped at {MAX_EXTRACTION_DEPTH} layers: relative error up to "
            f"≈ {depth_residual(fp, depth):.1e}"
        )
    return PreparedKernel(limit, 0.0, notes, kriging=True)


def depth_residual(fp: FixedPoints, depth: int) -> float:
    """Size of the neglected terms at extraction depth ``depth`` (the slowest of them)."""
    chi = fp.chi_1 or 0.0
    return float(max(chi ** (depth / 2.0), depth * chi**depth))


def same_input_groups(network: Network, x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
    """[n1, n2] booleans: pairs with correlation exactly 1 at every layer (c = 1 is a fixed
    point): identical inputs, or positively parallel ones when the first layer has no bias."""
    if network.first_sigma_b2 == 0.0:
        n1 = np.linalg.norm(x1, axis=1, keepdims=True)
        n2 = np.linalg.norm(x2, axis=1, keepdims=True)
        x1 = x1 / np.where(n1 > 0, n1, 1.0)
        x2 = x2 / np.where(n2 > 0, n2, 1.0)
    return np.all(x1[:, None, :] == x2[None, :, :], axis=2)


def _chaotic(
    network: Network,
    fp: FixedPoints,
    x_train: np.ndarray,
    x_test: np.ndarray,
    kernel: str,
    progress: Callable[[float], None] | None,
) -> PreparedKernel:
    same_train = same_input_groups(network, x_train, x_train)
    same_cross = same_input_groups(network, x_test, x_train)
    notes = [chaotic_rate_note(fp)]
    if kernel == "nngp":
        if fp.q_star is None or fp.c_star is None:
            raise NotDefinedError(
                "no infinite-depth NNGP: q* or c* does not exist (" + "; ".join(fp.notes) + ")",
                field="network.depth",
            )
        c_star = fp.c_star
        k_train = c_star + (1.0 - c_star) * same_train
        k_cross = c_star + (1.0 - c_star) * same_cross
        notes.append(
            f"NNGP: Σ^∞ = q*(c* 11ᵀ + (1 − c*) I) with c* = {c_star:.6g} on distinct inputs"
        )
        dense = DeviationKernel.from_dense(k_train.astype(float), k_cross.astype(float))
        return PreparedKernel(dense, math.log10(fp.q_star), notes)

    depth, _ = extraction_depth(fp)
    n = x_train.shape[0]
    x_all = np.vstack([x_train, x_test])
    finite = dataclasses.replace(network, depth=depth)
    state = kernel_states(finite, x_train, x_all, depths=[depth], progress=progress)[0]
    part = state.ntk
    g_train = np.asarray(part.g1, dtype=np.float64)
    g_test = np.asarray(part.g2, dtype=np.float64)[n:]
    top = float(np.max(g_train))
    root_train = np.sqrt(g_train / top)
    root_test = np.sqrt(g_test / top)
    k_train = np.outer(root_train, root_train) * same_train
    k_cross = np.outer(root_test, root_train) * same_cross
    dense = DeviationKernel.from_dense(k_train, k_cross)
    return PreparedKernel(dense, math.inf, notes)
