"""Exact NNGP and NTK kernels of deep fully-connected networks (MATH.md §2 and §7).

    Σ¹ = σ_w0²·x·x'/d₀ + σ_b0²,   Σˡ⁺¹ = σ_w² E[φ(u)φ(v)] + σ_b²,   Σ̇ˡ⁺¹ = σ_w² E[φ'(u)φ'(v)],
    Θ¹ = Σ¹,                      Θˡ⁺¹ = Σˡ⁺¹ + Σ̇ˡ⁺¹ ⊙ Θˡ.

Every kernel is carried in deviation form (:mod:`core.deficits`): its diagonals and its
Cauchy–Schwarz deficit E = √(K_aa K_bb) − K_ab, never K_ab itself, so that the ordered
phase (where 1 − c falls below 1e-16 after a few dozen layers) keeps every digit of E, and
power-of-two scales so that the chaotic phase (Θ ~ χ₁^l) never overflows. The deficit
recursion is exact algebra, with no cancellation:

    E_Σ' = σ_w² [√(V_aV_b) − E[φφ]] + σ_b²(√A_a − √A_b)² / (√(Σ'_aaΣ'_bb) + √(A_aA_b) + σ_b²)
    E_Θ' = E_Σ' + √(Σ̇'_aaΣ̇'_bb) E_Θ + Θ_ab E_Σ̇'
           + (√(P_aR_b) − √(P_bR_a))² / (√(T_aT_b) + √(P_aP_b) + √(R_aR_b))

with A = σ_w² V(q) (V = E[φ²]), P = Σ'_aa, R = Σ̇'_aa Θ_aa, T = P + R; the activation's
deficit forms supply √(V_aV_b) − E[φφ] and √(W_aW_b) − E[φ'φ'] from 1 − c directly.
Once 1 − c underflows (below 2^-500 ≈ 3e-151) the deficits are propagated by their
leading terms a·δ, b·δ^p (``Activation.small_deficit_slopes``); there the norm-mismatch
terms, O((Σ_aa − Σ_bb)²), are below float64 resolution of the diagonals and are dropped.

Two paths (reported in ``KernelResult.method``):

* **per entry**: the recursion above on all n1·n2 entries, one pass over the layers
  serving every requested depth (cost linear in depth, memory O(n1·n2)); the activation's
  deficit forms are numba ufuncs and the rest of a layer one fused numba pass
  (:mod:`core.fused_layer`); once Σ sits on its fixed point to the bit, the remaining
  layers run compiled (:mod:`core.steady_layers`). For relu-like and erf networks the
  entries run compiled one by one (:mod:`core.entry_loop`); for erf, once every Σ_aa has
  snapped to one value, the layers after that are tables of the common map
  (:mod:`core.settled_tail`, noted in the method);
* **equal norm**: when all inputs share one first-layer variance (relative tolerance
  1e-12), every entry is a function of the input angle alone: the recursion is run on a
  grid of angles and the composed map interpolated (:mod:`core.equal_norm`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

from core import entry_loop
from core.activations import Activation
from core.activations.base import Array
from core.asymptotes import LARGE, SMALL, layer_activation, variance_exponents
from core.blas import one_blas_thread
from core.deficits import DeviationPart, LayerState, Track, combine, normalised, snapped
from core.entry_loop import Integers
from core.errors import InvalidInputError, NumericalError
from core.fused_layer import fused_deficits
from core.network import Network

__all__ = ["KernelResult", "LayerState", "compute_kernels", "kernel_states"]

Progress = Callable[[float], None] | None

#: deficits whose scale is below 2^LINEAR_BELOW are propagated by their leading terms
LINEAR_BELOW = -500
#: input pairs with 1 − cos below this get their angle from ‖x̂ − x̂'‖ (no Gram cancellation)
NEAR_DUPLICATE = 1e-6
KERNELS = ("nngp", "ntk")
LIMIT_NOTE = (
    f"layers whose variances all lie past 2^{LARGE} (or below 2^{SMALL}) run on the "
    "activation's scale-free limit, equal to float64 resolution there"
)


@dataclass(frozen=True)
class KernelResult:
    """Kernels at the requested depths; true kernel = returned × 10^log10_scale (per depth)."""

    depths: list[int]
    nngp: Array | None
    ntk: Array | None
    nngp_log10_scale: Array
    ntk_log10_scale: Array
    method: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "depths": list(self.depths),
            "nngp": self.nngp,
            "ntk": self.ntk,
            "nngp_log10_scale": self.nngp_log10_scale,
            "ntk_log10_scale": self.ntk_log10_scale,
            "method": self.method,
        }


def _check_range(out: dict[str, Array | None], depths: list[int], network: Network) -> None:
    """A kernel that left float64's range raises :class:`NumericalError` (no NaN or inf is
    returned). Log-scales carry every kernel of a scale-free activation, and of the others
    once all variances are past their scale-free limits (:mod:`core.asymptotes`); what is
    left are variances on both sides of that limit with some out of float64's reach (inputs
    of norms 1e-60 and 1e60 in gelu's chaotic phase)."""
    for name, stack in out.items():
        if stack is None:
            continue
        finite = np.isfinite(stack).reshape(stack.shape[0], -1).all(axis=1)
        if not finite.all():
            depth = depths[int(np.argmin(finite))]
            raise NumericalError(
                f"the {name.upper()} at depth {depth} leaves float64's range: "
                f"{network.activation.name}'s variances there span from within its own map's "
                "reach to past float64's, so neither it nor its scale-free limit serves the "
                "layer; ask for smaller depths or inputs of closer norms",
                field="depths",
            )


def compute_kernels(
    network: Network,
    x1: Any,
    x2: Any = None,
    *,
    depths: Sequence[int] | None = None,
    kernels: Sequence[str] = KERNELS,
    progress: Progress = None,
) -> KernelResult:
    """NNGP Σ^L(x1, x2) and NTK Θ^L(x1, x2) at each depth L in ``depths``.

    ``x1`` [n1, d], ``x2`` [n2, d] (default: x1, and the result is exactly symmetric).
    Returns arrays [len(depths), n1, n2] scaled by 10^-log10_scale (0 unless the kernel
    leaves the float64 range).
    """
    wanted = _check_kernels(kernels)
    a, b, same, checked_depths = _check_inputs(network, x1, x2, depths)
    from core.equal_norm import equal_norm_evaluation, has_equal_norms

    values = None
    if has_equal_norms(network, a, b):
        states, values, method = equal_norm_evaluation(
            network, a, b, same, checked_depths, progress, True
        )
    else:
        notes: list[str] = []
        states = _per_entry_states(network, a, b, same, checked_depths, progress, notes)
        method = f"exact per-entry recursion ({network.activation.quadrature})"
        method += "".join(f"; {note}" for note in notes)
    out: dict[str, Array | None] = {}
    scales: dict[str, Array] = {}
    for kernel, name in enumerate(KERNELS):
        parts = [getattr(state, name) for state in states]
        scales[name] = np.array([p.log10_scale for p in parts])
        if name not in wanted:
            out[name] = None
        elif values is not None:  # the equal-norm table wrote the kernels themselves
            out[name] = values[:, kernel]
        else:
            stack = np.empty((len(parts), a.shape[0], b.shape[0]))
            blocks = entry_loop.tiles(a.shape[0], b.shape[0], same)
            for layer, p in enumerate(parts):
                factor = 10.0**p.log10_deficit_scale
                _dense(p.g1, p.g2, p.deficit, factor, same, blocks, stack[layer])
            out[name] = stack
    _check_range(out, checked_depths, network)
    return KernelResult(
        depths=checked_depths,
        nngp=out["nngp"],
        ntk=out["ntk"],
        nngp_log10_scale=scales["nngp"],
        ntk_log10_scale=scales["ntk"],
        method=method,
    )


@numba.njit(parallel=True, cache=True)
def _dense(
    g1: Array, g2: Array, deficit: Array, factor: float, same: bool, tiles: Integers, out: Array
) -> None:
    """out = √(g1 g2ᵀ) − factor·deficit, symmetrised (½(K + Kᵀ)) when ``same``."""
    rows, cols = deficit.shape
    r1, r2 = np.sqrt(g1), np.sqrt(g2)
    for k in numba.prange(tiles.shape[0]):
        row, column = tiles[k, 0], tiles[k, 1]
        for a in range(row, min(row + entry_loop.TILE, rows)):
            for b in range(max(a, column) if same else column, min(column + entry_loop.TILE, cols)):
                value = r1[a] * r2[b] - factor * deficit[a, b]
                if same and a != b:
                    value = 0.5 * (value + r1[b] * r2[a] - factor * deficit[b, a])
                    out[b, a] = value
                out[a, b] = value


def kernel_states(
    network: Network,
    x1: Any,
    x2: Any = None,
    *,
    depths: Sequence[int],
    progress: Progress = None,
) -> list[LayerState]:
    """NNGP and NTK in deviation form (:class:`core.deficits.DeviationPart`) per depth."""
    a, b, same, checked_depths = _check_inputs(network, x1, x2, depths)
    from core.equal_norm import equal_norm_states, has_equal_norms

    if has_equal_norms(network, a, b):
        return equal_norm_states(network, a, b, same, checked_depths, progress)[0]
    return _per_entry_states(network, a, b, same, checked_depths, progress)


# --- validation ---------------------------------------------------------------------


def _check_kernels(kernels: Sequence[str]) -> set[str]:
    wanted = set(kernels) if not isinstance(kernels, str) else {kernels}
    if not wanted or not wanted <= set(KERNELS):
        raise InvalidInputError(
            f"kernels must be a non-empty subset of {list(KERNELS)}, got {list(kernels)!r}",
            field="kernels",
        )
    return wanted


def _check_matrix(value: Any, name: str) -> Array:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InvalidInputError(f"{name} must be a 2-D array of numbers", field=name) from error
    if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] < 1:
        raise InvalidInputError(
            f"{name} must be a non-empty 2-D array [n, d], got shape {array.shape}", field=name
        )
    if not np.all(np.isfinite(array)):
        raise InvalidInputError(f"{name} contains non-finite values", field=name)
    return array


def _check_inputs(
    network: Network, x1: Any, x2: Any, depths: Sequence[int] | None
) -> tuple[Array, Array, bool, list[int]]:
    if network.depth is None:
        raise InvalidInputError(
            "kernels are computed at finite depths; for the infinite-depth limit use "
            "/v1/predictions (depth 'inf') and /v1/spectra (its theory section)",
            field="depth",
        )
    a = _check_matrix(x1, "x1")
    same = x2 is None
    b = a if same else _check_matrix(x2, "x2")
    if b.shape[1] != a.shape[1]:
        raise InvalidInputError(
            f"x2 has dimension {b.shape[1]} but x1 has {a.shape[1]}", field="x2"
        )
    if depths is None:
        return a, b, same, [network.depth]
    try:
        values = [int(d) for d in depths]
    except (TypeError, ValueError) as error:
        raise InvalidInputError("depths must be a list of integers", field="depths") from error
    if any(isinstance(d, bool) or int(d) != d for d in depths):
        raise InvalidInputError("depths must be a list of integers", field="depths")
    if not values:
        raise InvalidInputError("depths must not be empty", field="depths")
    if any(not 1 <= d <= network.depth for d in values):
        raise InvalidInputError(
            f"depths must lie in [1, {network.depth}] (the network's depth), got {values}",
            field="depths",
        )
    if any(later <= earlier for earlier, later in itertools.pairwise(values)):
        raise InvalidInputError(f"depths must be strictly increasing, got {values}", field="depths")
    return a, b, same, values


# --- first layer --------------------------------------------------------------------


def input_gram(x1: Array, x2: Array, same: bool) -> tuple[Array, Array, Array]:
    """(x1·x2ᵀ, ‖x1_a‖, ‖x2_b‖): what the input cosines are computed from.

    The product runs on one BLAS thread: BLAS's worker threads spin for a while after a
    call, and would take a core from the numba threads of the passes that follow."""
    n1 = np.sqrt(np.einsum("ij,ij->i", x1, x1))
    n2 = n1 if same else np.sqrt(np.einsum("ij,ij->i", x2, x2))
    with one_blas_thread():
        gram = x1 @ x2.T
    return gram, n1, n2


def input_cosine_deficits(x1: Array, x2: Array, same: bool) -> Array:
    """1 − cos(x1_a, x2_b) ∈ [0, 2]; near-duplicates from ‖x̂ − x̂'‖²/2 (exact 0 for equal rows).

    A zero row has no direction: its deficit is set to 0 (it does not enter Σ¹ then).
    With ``same`` the result is exactly symmetric (½(δ_ab + δ_ba)) with a zero diagonal.
    """
    gram, n1, n2 = input_gram(x1, x2, same)
    blocks = entry_loop.tiles(x1.shape[0], x2.shape[0], same)
    return _cosine_deficits(x1, x2, gram, n1, n2, same, blocks, NEAR_DUPLICATE)


@numba.njit(inline="always")
def pair_deficit(
    x1: Array,
    x2: Array,
    gram: Array,
    n1: Array,
    n2: Array,
    same: bool,
    a: int,
    b: int,
    near: float,
) -> float:
    """Entry (a, b) of :func:`input_cosine_deficits` (``gram``, ``n1``, ``n2``: from
    :func:`input_gram`)."""
    norms = n1[a] * n2[b]
    if norms <= 0.0 or (same and a == b):
        return 0.0
    value = (norms - gram[a, b]) / norms
    if same:
        value = 0.5 * (value + (norms - gram[b, a]) / norms)
    value = min(max(value, 0.0), 2.0)
    if value < near:
        total = 0.0
        for i in range(x1.shape[1]):
            diff = x1[a, i] / n1[a] - x2[b, i] / n2[b]
            total += diff * diff
        value = 0.5 * total
    return value


@numba.njit(parallel=True, cache=True)
def _cosine_deficits(
    x1: Array,
    x2: Array,
    gram: Array,
    n1: Array,
    n2: Array,
    same: bool,
    tiles: Integers,
    near: float,
) -> Array:
    """One pass of :func:`input_cosine_deficits` over the Gram matrix (blocks: ``tiles``)."""
    rows, cols = gram.shape
    delta = np.empty((rows, cols))
    for k in numba.prange(tiles.shape[0]):
        row, column = tiles[k, 0], tiles[k, 1]
        for a in range(row, min(row + entry_loop.TILE, rows)):
            for b in range(max(a, column) if same else column, min(column + entry_loop.TILE, cols)):
                value = pair_deficit(x1, x2, gram, n1, n2, same, a, b, near)
                delta[a, b] = value
                if same:
                    delta[b, a] = value
    return delta


def _bias_mismatch(a1: Array, a2: Array, bias: float) -> Array:
    """√((a1+b)(a2+b)) − √(a1 a2) − b = b(√a1 − √a2)² / (√((a1+b)(a2+b)) + √(a1a2) + b)."""
    if bias == 0.0:
        return np.zeros(np.broadcast_shapes(a1.shape, a2.shape))
    gap = np.sqrt(a1) - np.sqrt(a2)
    denominator = np.sqrt((a1 + bias) * (a2 + bias)) + np.sqrt(a1 * a2) + bias
    return bias * gap * gap / denominator


def first_layer(network: Network, x1: Array, x2: Array, same: bool) -> Track:
    """Σ¹ = Θ¹ in deviation form."""
    d = x1.shape[1]
    w2, b2 = network.first_sigma_w2, network.first_sigma_b2
    sq1 = np.einsum("ij,ij->i", x1, x1)
    sq2 = sq1 if same else np.einsum("ij,ij->i", x2, x2)
    a1, a2 = w2 * sq1 / d, w2 * sq2 / d
    delta = input_cosine_deficits(x1, x2, same)
    angular = np.sqrt(a1[:, None] * a2[None, :]) * delta
    deficit = angular + _bias_mismatch(a1[:, None], a2[None, :], b2)
    track = Track(a1 + b2, a2 + b2, deficit, 0, 0)
    track.normalise(diagonal=homogeneous(limit_at(network.activation, track)))
    return track


# --- one layer of the recursion -----------------------------------------------------


def homogeneous(activation: Activation) -> bool:
    """Positively homogeneous of degree 1 (E[φφ] ∝ q): Σ may then be rescaled freely."""
    from core.activations.closed_forms import ABRelu, Identity

    return isinstance(activation, ABRelu | Identity)


def limit_at(activation: Activation, sigma: Track) -> Activation:
    """The activation a layer with input kernel Σ runs with (:mod:`core.asymptotes`)."""
    return layer_activation(activation, *variance_exponents(sigma.g1, sigma.g2, sigma.s))


def next_layer(network: Network, sigma: Track, theta: Track) -> tuple[Track, Track]:
    """(Σˡ, Θˡ) → (Σˡ⁺¹, Θˡ⁺¹), all in deviation form (formulas in the module doc); past
    the activation's extreme variances with its scale-free limit (:mod:`core.asymptotes`).
    """
    act = limit_at(network.activation, sigma)
    if sigma.s != 0 and not homogeneous(act):  # back from a limit: true variances again
        sigma = sigma.unscaled()
    w2 = network.sigma_w2
    bias = math.ldexp(network.sigma_b2, -sigma.s)
    q1, q2 = sigma.g1[:, None], sigma.g2[None, :]
    root = np.sqrt(q1) * np.sqrt(q2)
    safe_root = np.where(root > 0.0, root, 1.0)
    linear = sigma.t < LINEAR_BELOW
    if linear:
        slope, jump, power = act.small_deficit_slopes(q1, q2)
        scaled = np.where(root > 0.0, sigma.e / safe_root, 0.0)
        deficit_phi: tuple[Array, int] = (w2 * slope * scaled, sigma.t)
        if power == 1.0:
            deficit_dphi = (w2 * jump * scaled, sigma.t)
        else:  # power ½: keep the exponent even so that its half is exact
            odd = sigma.t % 2
            deficit_dphi = (w2 * jump * np.sqrt(np.ldexp(scaled, odd)), (sigma.t - odd) // 2)
    else:
        delta = np.clip(np.where(root > 0.0, np.ldexp(sigma.e, sigma.t) / safe_root, 0.0), 0, 2)
        deficit_phi = (w2 * act.correlation_deficit(q1, q2, delta), 0)
        deficit_dphi = (w2 * act.derivative_correlation_deficit(q1, q2, delta), 0)
    v1, v2 = w2 * act.variance(sigma.g1), w2 * act.variance(sigma.g2)
    dot1, dot2 = w2 * act.derivative_variance(sigma.g1), w2 * act.derivative_variance(sigma.g2)
    top = max(sigma.s, theta.s)  # Θ' = Σ' + Σ̇' ⊙ Θ on the common scale 2^top
    p1 = np.ldexp(v1 + bias, sigma.s - top)
    p2 = np.ldexp(v2 + bias, sigma.s - top)
    r1 = np.ldexp(dot1 * theta.g1, theta.s - top)
    r2 = np.ldexp(dot2 * theta.g2, theta.s - top)
    if linear:
        e_sigma, t_sigma = combine([deficit_phi])
        theta_ab = np.sqrt(theta.g1)[:, None] * np.sqrt(theta.g2)[None, :] - np.ldexp(
            theta.e, theta.t
        )
        dot_root = np.sqrt(dot1[:, None] * dot2[None, :])
        e_dphi, t_dphi = normalised(*deficit_dphi)
        e_theta, t_theta = combine(
            [
                (e_sigma, sigma.s + t_sigma - top),
                (dot_root * theta.e, theta.s + theta.t - top),
                (theta_ab * e_dphi, theta.s + t_dphi - top),
            ]
        )
    else:
        raw_sigma, raw_theta = fused_deficits(
            np.ascontiguousarray(np.broadcast_to(deficit_phi[0], root.shape)),
            np.ascontiguousarray(np.broadcast_to(deficit_dphi[0], root.shape)),
            v1,
            v2,
            bias,
            theta.g1,
            theta.g2,
            np.ascontiguousarray(theta.e),
            theta.t,
            dot1,
            dot2,
            p1,
            p2,
            r1,
            r2,
            sigma.s - top,
            theta.s - top,
            True,
        )
        e_sigma, t_sigma = normalised(raw_sigma, 0)
        e_theta, t_theta = normalised(raw_theta, 0)
    new_sigma = Track(v1 + bias, v2 + bias, e_sigma, sigma.s, t_sigma)
    new_theta = Track(p1 + r1, p2 + r2, np.maximum(e_theta, 0.0), top, t_theta)
    new_sigma.g1, new_sigma.g2 = snapped(new_sigma.g1, new_sigma.g2)
    new_theta.g1, new_theta.g2 = snapped(new_theta.g1, new_theta.g2)
    new_sigma.normalise(diagonal=homogeneous(limit_at(network.activation, new_sigma)))
    new_theta.normalise()
    return new_sigma, new_theta


def _per_entry_states(
    network: Network,
    x1: Array,
    x2: Array,
    same: bool,
    depths: list[int],
    progress: Progress,
    notes: list[str] | None = None,
) -> list[LayerState]:
    """The exact recursion on every entry; one pass over the layers for all depths
    (entry-major and compiled where :mod:`core.entry_loop` applies, which appends to
    ``notes`` when it tabulates the layers past the snap of the diagonals)."""
    points = x1.shape[0] + (0 if same else x2.shape[0])
    d = x1.shape[1]
    a1 = network.first_sigma_w2 * np.einsum("ij,ij->i", x1, x1) / d
    a2 = a1 if same else network.first_sigma_w2 * np.einsum("ij,ij->i", x2, x2) / d
    largest = max(a1.max(), a2.max()) + network.first_sigma_b2
    if entry_loop.supported(network, points, depths[-1], largest):
        delta = input_cosine_deficits(x1, x2, same)
        return entry_loop.entry_states(network, a1, a2, delta, same, depths, progress, notes)
    sigma = first_layer(network, x1, x2, same)
    theta = Track(sigma.g1.copy(), sigma.g2.copy(), sigma.e.copy(), sigma.s, sigma.t)
    return run_layers(network, sigma, theta, depths, progress, notes)


def run_layers(
    network: Network,
    sigma: Track,
    theta: Track,
    depths: list[int],
    progress: Progress,
    notes: list[str] | None = None,
) -> list[LayerState]:
    """Iterate from depth 1 to max(depths), recording a LayerState at each requested depth.

    Once Σ's diagonal sits exactly on its fixed point and its deficit is in the linear
    regime, the remaining layers up to the next requested depth run compiled
    (:mod:`core.steady_layers`). ``notes`` receives a line for the method when some layers
    run on the activation's scale-free limit (:mod:`core.asymptotes`).
    """
    states: list[LayerState] = []
    last = depths[-1]
    wanted = set(depths)
    step = max(1, last // 200)
    depth = 1
    while True:
        if depth in wanted:
            states.append(
                LayerState(depth, DeviationPart.from_track(sigma), DeviationPart.from_track(theta))
            )
        if progress is not None and (depth % step == 0 or depth == last):
            progress(depth / last)
        if depth == last:
            return states
        target = min(d for d in depths if d > depth)
        if notes is not None and limit_at(network.activation, sigma) is not network.activation:
            notes.append(LIMIT_NOTE)
            notes = None
        new_sigma, new_theta = next_layer(network, sigma, theta)
        depth += 1
        mode = _steady_mode(sigma, new_sigma) if target - depth > 8 else None
        if mode is not None:
            new_sigma, new_theta = _jump(network, new_sigma, new_theta, target - depth, mode)
            depth = target
        sigma, theta = new_sigma, new_theta


def _steady_mode(before: Track, after: Track) -> str | None:
    """ "linear": Σ's diagonal unchanged to the bit, deficits in the linear regime;
    "frozen": all of Σ unchanged to the bit (deficits not linear); else None."""
    same_diagonal = (
        before.s == after.s
        and np.array_equal(before.g1, after.g1)
        and np.array_equal(before.g2, after.g2)
        and bool(np.all(after.g1 > 0.0))
        and bool(np.all(after.g2 > 0.0))
    )
    if not same_diagonal:
        return None
    if before.t < LINEAR_BELOW and after.t < LINEAR_BELOW:
        return "linear"
    if before.t == after.t and np.array_equal(before.e, after.e) and after.t >= LINEAR_BELOW:
        return "frozen"
    return None


def _jump(
    network: Network, sigma: Track, theta: Track, count: int, mode: str
) -> tuple[Track, Track]:
    """``count`` steady layers at once (:func:`next_layer` with Σ fixed or linear)."""
    from core.steady_layers import steady_layers

    act = limit_at(network.activation, sigma)
    w2 = network.sigma_w2
    q1, q2 = sigma.g1[:, None], sigma.g2[None, :]
    root = np.sqrt(q1) * np.sqrt(q2)
    slope, jump, power = act.small_deficit_slopes(q1, q2)
    shape = (sigma.g1.size, sigma.g2.size)
    kappa = np.broadcast_to(w2 * slope / root, shape).copy()
    jump_full = np.broadcast_to(w2 * jump, shape).copy()
    dot1 = w2 * act.derivative_variance(sigma.g1)
    dot2 = w2 * act.derivative_variance(sigma.g2)
    frozen = mode == "frozen"
    if frozen:
        delta = np.clip(np.ldexp(sigma.e, sigma.t) / root, 0.0, 2.0)
        e_dphi, t_dphi = normalised(w2 * act.derivative_correlation_deficit(q1, q2, delta), 0)
    else:
        e_dphi, t_dphi = np.zeros(shape), 0
    e_sigma, t_sigma, g1, g2, e_theta, s_theta, t_theta = steady_layers(
        count,
        sigma.g1,
        sigma.g2,
        np.ascontiguousarray(sigma.e),
        sigma.s,
        sigma.t,
        kappa,
        jump_full,
        power != 1.0,
        dot1,
        dot2,
        frozen,
        np.ascontiguousarray(np.broadcast_to(e_dphi, shape)),
        t_dphi,
        theta.g1,
        theta.g2,
        np.ascontiguousarray(theta.e),
        theta.s,
        theta.t,
    )
    new_sigma = Track(sigma.g1, sigma.g2, e_sigma, sigma.s, int(t_sigma))
    new_theta = Track(g1, g2, e_theta, int(s_theta), int(t_theta))
    new_theta.g1, new_theta.g2 = snapped(new_theta.g1, new_theta.g2)
    return new_sigma, new_theta
