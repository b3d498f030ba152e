"""Activations that are not scale-free past float64's range (core.asymptotes).

The premise: past 2^LARGE (2^SMALL) the activation's expectations are its scale-free
limit's to below float64's resolution, checked here against mpmath quadrature. Then whole
networks whose variances leave float64's range (gelu deep in the chaotic phase, q ~ 1e470;
erf, sin and tanh in the ordered phase with σ_b² = 0, q ~ 1e-3000) against naive mpmath
recursions (unbounded exponents): gelu's exactly by quadrature (tests.core.mp_reference
.mp_gelu) until every variance passes 2^130, relu's closed form after it (the premise
bounds the difference by 2^-55 per layer); erf's and sin's closed forms throughout.
"""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest

from core.activations import get_activation
from core.asymptotes import LARGE, SMALL
from core.deficits import LOG10_2
from core.errors import NumericalError
from core.kernels import compute_kernels
from core.network import Network
from tests.core.mp_reference import EXPECTATIONS, mp_gelu, mp_kernel_layers, mp_relu

#: past this variance the reference recursion takes relu's closed form for gelu
REFERENCE_RELU_ABOVE = mp.mpf(2) ** 130


def gelu_then_relu(q1: mp.mpf, q2: mp.mpf, q12: mp.mpf) -> tuple[mp.mpf, mp.mpf]:
    if min(q1, q2) > REFERENCE_RELU_ABOVE:
        return mp_relu(q1, q2, q12)
    return mp_gelu(q1, q2, q12)


def one_dimensional(name: str, q: mp.mpf) -> tuple[mp.mpf, mp.mpf]:
    """(V(q), W(q)) = (E[φ²], E[φ'²]) by quadrature, split at the scale of φ's features."""
    functions = {
        "gelu": (lambda x: x * mp.ncdf(x), lambda x: mp.ncdf(x) + x * mp.npdf(x)),
        "silu": (lambda x: x / (1 + mp.exp(-x)), lambda x: _sigmoid(x) * (1 + x * _sigmoid(-x))),
        "softplus": (lambda x: mp.log1p(mp.exp(-abs(x))) + max(x, 0), _sigmoid),
        "erf": (mp.erf, lambda x: 2 / mp.sqrt(mp.pi) * mp.exp(-(x**2))),
        "tanh": (_tanh, lambda x: 1 - _tanh(x) ** 2),
        "sin": (mp.sin, mp.cos),
    }
    phi, dphi = functions[name]
    root = mp.sqrt(q)
    features = [z for k in (1, 40) for z in (-k / root, k / root) if abs(z) < 50]
    nodes = [-mp.inf, *sorted([mp.mpf(0), *features]), mp.inf]
    # V/q and W are O(1) here: mpmath's quad stops on an absolute error estimate
    v = mp.quad(lambda z: phi(root * z) ** 2 / q * mp.npdf(z), nodes)
    w = mp.quad(lambda z: dphi(root * z) ** 2 * mp.npdf(z), nodes)
    return v * q, w


def _tanh(x: mp.mpf) -> mp.mpf:
    """tanh by expm1: mpmath's tanh loses its relative precision below |x| ~ 1e-10."""
    return mp.expm1(2 * x) / (mp.expm1(2 * x) + 2)


def _sigmoid(x: mp.mpf) -> mp.mpf:
    return 1 / (1 + mp.exp(-x))


@pytest.mark.parametrize("name", ["gelu", "silu", "softplus"])
def test_large_variance_limit_is_relu_to_float64_resolution(name):
    """E[φ²] and E[φ'²] at q = 2^(LARGE+1): relu's q/2 and ½ within 2^-55 relative."""
    mp.mp.dps = 30
    assert get_activation(name).limits.large == (0.0, 1.0)
    q = mp.mpf(2) ** (LARGE + 1)
    v, w = one_dimensional(name, q)
    assert abs(v / (q / 2) - 1) < 2.0**-55
    assert abs(w / mp.mpf(0.5) - 1) < 2.0**-55


@pytest.mark.parametrize("c", [-0.6, 0.2, 0.95, 1 - 1e-9])
def test_gelus_joint_expectations_are_relus_past_the_threshold(c):
    """E[φ(u)φ(v)] within 2^-55·√(q1q2) and E[φ'(u)φ'(v)] within 2^-55 of relu's at
    q1 = 2^(LARGE+1), q2 = 3·q1 (the limit is exact relative to the diagonals' scale)."""
    mp.mp.dps = 30
    q1 = mp.mpf(2) ** (LARGE + 1)
    q2 = 3 * q1
    q12 = mp.mpf(c) * mp.sqrt(q1 * q2)
    gelu, relu = mp_gelu(q1, q2, q12), mp_relu(q1, q2, q12)
    assert abs(gelu[0] - relu[0]) < 2.0**-55 * mp.sqrt(q1 * q2)
    assert abs(gelu[1] - relu[1]) < 2.0**-55


@pytest.mark.parametrize("name", ["gelu", "silu", "erf", "tanh", "sin"])
def test_small_variance_limit_is_linear_to_float64_resolution(name):
    """E[φ²] = φ'(0)²·q and E[φ'²] = φ'(0)² at q = 2^(SMALL−1): within 2^-100 of the
    exact slope, and within 2^-51 (the rounding of φ'(0) to float64) of the one used."""
    mp.mp.dps = 50
    slope = get_activation(name).limits.small
    assert slope is not None
    q = mp.mpf(2) ** (SMALL - 1)
    v, w = one_dimensional(name, q)
    exact = {"erf": 2 / mp.sqrt(mp.pi)}.get(name, mp.mpf(slope))
    assert abs(v / (exact**2 * q) - 1) < 2.0**-100
    assert abs(w / exact**2 - 1) < 2.0**-100
    assert abs(exact / mp.mpf(slope) - 1) < 2.0**-52


def log10_magnitude(values: np.ndarray, log10_scale: float) -> float:
    return math.log10(np.abs(values).max()) + log10_scale


def exact_kernel(values: np.ndarray, log10_scale: float) -> list[list[mp.mpf]]:
    """values·10^log10_scale in mpmath: the scale is a power of two (core.deficits)."""
    exponent = round(log10_scale / LOG10_2)
    assert abs(exponent * LOG10_2 - log10_scale) < 1e-9
    return [[mp.ldexp(mp.mpf(float(v)), exponent) for v in row] for row in values]


def assert_matches(result, reference, depths, rtol, normwise):
    """Diagonals to ``rtol`` relative; off-diagonal entries to ``rtol`` relative, or with
    ``normwise`` to ``rtol``·√(K_aa K_bb)."""
    for i, depth in enumerate(depths):
        for kernel, scales, exact in (
            (result.nngp, result.nngp_log10_scale, reference[depth][0]),
            (result.ntk, result.ntk_log10_scale, reference[depth][1]),
        ):
            assert np.all(np.isfinite(kernel[i]))
            ours = exact_kernel(kernel[i], scales[i])
            n = len(ours)
            for a in range(n):
                for b in range(n):
                    want = exact[a][b]
                    scale = mp.sqrt(exact[a][a] * exact[b][b]) if normwise else abs(want)
                    assert abs(ours[a][b] - want) <= rtol * scale, (depth, a, b)


def three_points(scale: float = 1.0) -> np.ndarray:
    x = np.random.default_rng(7).standard_normal((3, 4)) * scale
    x[2] *= 1.9
    return x


def test_gelu_deep_in_the_chaotic_phase_against_mpmath():
    """σ_w² = 1e12: the variances pass 2^120 at layer 3 and 1e308 at layer ~28; at depth
    40 the kernels are ~1e470, finite, and match the reference to 1e-12 (normwise)."""
    mp.mp.dps = 20
    depths = [2, 10, 30, 40]
    x = three_points()
    network = Network(get_activation("gelu"), 1e12, 0.5, 40)
    result = compute_kernels(network, x, depths=depths)
    assert log10_magnitude(result.nngp[-1], result.nngp_log10_scale[-1]) > 400
    assert "scale-free limit" in result.method
    reference = mp_kernel_layers(x, gelu_then_relu, 1e12, 0.5, depths)
    assert_matches(result, reference, depths, 1e-12, normwise=True)


def test_gelu_back_from_its_limit_against_mpmath():
    """Inputs of norm ~1e70 (q ~ 1e140, rescaled by 2^-465 from the first layer) and
    σ_w² = 0.02: the variances fall by 100× a layer, below 2^120 after ~50 layers, where
    gelu's own map takes over again at the true variances."""
    mp.mp.dps = 20
    depths = [20, 52, 55]
    x = three_points(1e70)
    network = Network(get_activation("gelu"), 0.02, 0.1, 55)
    result = compute_kernels(network, x, depths=depths)
    assert result.nngp_log10_scale[0] > 0 and result.nngp_log10_scale[-1] == 0
    reference = mp_kernel_layers(x, gelu_then_relu, 0.02, 0.1, depths)
    assert_matches(result, reference, depths, 1e-12, normwise=True)


@pytest.mark.parametrize(("name", "w2", "depth"), [("erf", 1e-3, 1000), ("sin", 0.5, 1100)])
def test_ordered_phase_without_bias_below_float64_against_mpmath(name, w2, depth):
    """σ_b² = 0: the variances fall geometrically, below 1e-308 (erf after ~110 layers, sin
    after ~1020); every entry, off-diagonal ones included, to 1e-12 relative (the linear
    limit is exact relative to the deficits too)."""
    mp.mp.dps = 30
    depths = [50, depth // 2, depth]
    x = three_points()
    result = compute_kernels(Network(get_activation(name), w2, 0.0, depth), x, depths=depths)
    assert log10_magnitude(result.nngp[-1], result.nngp_log10_scale[-1]) < -320
    reference = mp_kernel_layers(x, EXPECTATIONS[name], w2, 0.0, depths)
    assert_matches(result, reference, depths, 1e-12, normwise=False)


def test_tanh_ordered_without_bias_diagonal_against_mpmath():
    """tanh (numerical), σ_w² = 1e-6: q below 1e-308 by layer ~52; Σ_aa and Θ_aa at depth
    60 against the mpmath recursion of E[tanh²] and E[tanh'²] (1e-12 relative)."""
    mp.mp.dps = 20
    w2 = mp.mpf(1e-6)
    x = three_points()[:1]
    result = compute_kernels(Network(get_activation("tanh"), 1e-6, 0.0, 60), x)
    q = w2 * mp.fsum(mp.mpf(float(v)) ** 2 for v in x[0]) / 4
    theta = q
    for _ in range(59):
        v, w = one_dimensional("tanh", q)
        q, theta = w2 * v, w2 * v + w2 * w * theta
    assert q < mp.mpf(10) ** -330
    for kernel, scale, want in (
        (result.nngp, result.nngp_log10_scale, q),
        (result.ntk, result.ntk_log10_scale, theta),
    ):
        got = exact_kernel(kernel[0], scale[0])[0][0]
        assert abs(got / want - 1) < 1e-12


@pytest.mark.parametrize("name", ["softplus", "silu"])
def test_softplus_and_silu_diagonals_through_every_regime_against_mpmath(name):
    """σ_w² = 1000: Σ_aa ~ 240 at layer 1 (the Hermite series), past the large-variance
    rule's threshold from layer 2 (core.activations.smooth_relu_large), past 2^120 from
    layer 14 (the relu limit); Σ_aa and Θ_aa at every depth against the mpmath recursion
    of E[φ²] and E[φ'²] (relu's q/2 and ½ once q passes REFERENCE_RELU_ABOVE), 1e-13."""
    mp.mp.dps = 30
    depths = list(range(1, 21))
    x = three_points()[:1]
    result = compute_kernels(Network(get_activation(name), 1000.0, 0.1, 20), x, depths=depths)
    q = 1000 * mp.fsum(mp.mpf(float(v)) ** 2 for v in x[0]) / 4 + mp.mpf(0.1)
    theta = q
    for i in range(20):
        for kernel, scale, want in (
            (result.nngp, result.nngp_log10_scale, q),
            (result.ntk, result.ntk_log10_scale, theta),
        ):
            got = exact_kernel(kernel[i], scale[i])[0][0]
            assert abs(got / want - 1) < 1e-13, depths[i]
        v, w = (q / 2, mp.mpf(0.5)) if q > REFERENCE_RELU_ABOVE else one_dimensional(name, q)
        q, theta = 1000 * v + mp.mpf(0.1), 1000 * v + mp.mpf(0.1) + 1000 * w * theta
    assert q > 2**120 and "scale-free limit" in result.method


@pytest.mark.parametrize(
    ("name", "w2", "b2", "depth"), [("gelu", 1e12, 0.5, 40), ("erf", 1e-3, 0.0, 300)]
)
def test_equal_norm_path_past_float64_against_mpmath(name, w2, b2, depth):
    """70 inputs of one norm (the equal-norm table's path): finite, and two of the entries
    against the reference recursion on those two inputs (1e-12 normwise)."""
    mp.mp.dps = 20
    x = np.random.default_rng(3).standard_normal((70, 4))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    result = compute_kernels(Network(get_activation(name), w2, b2, depth), x)
    assert "equal-norm" in result.method or "angle" in result.method, result.method
    expectations = gelu_then_relu if name == "gelu" else EXPECTATIONS[name]
    reference = mp_kernel_layers(x[:2], expectations, w2, b2, [depth])
    ours = type(result)(
        depths=result.depths,
        nngp=result.nngp[:, :2, :2],
        ntk=result.ntk[:, :2, :2],
        nngp_log10_scale=result.nngp_log10_scale,
        ntk_log10_scale=result.ntk_log10_scale,
        method=result.method,
    )
    assert_matches(ours, reference, [depth], 1e-12, normwise=True)


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
def test_variances_both_past_and_short_of_the_limit_raise():
    """gelu, inputs of norms 1e-60 and 1e60: the large variances leave the reach of gelu's
    map (q² overflows) while the small one is still far below 2^120, so neither gelu nor
    its limit serves the layer; an error naming the depth, never a NaN."""
    x = three_points()
    x[0] *= 1e-60
    x[1:] *= 1e60
    network = Network(get_activation("gelu"), 30.0, 0.0, 300)
    with pytest.raises(NumericalError, match="the NNGP at depth 300 leaves float64's range"):
        compute_kernels(network, x, depths=[5, 300])
    assert math.isfinite(compute_kernels(network, x, depths=[5]).nngp.max())
