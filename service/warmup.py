"""``deepkernel warmup``: compile the numerics before the first request.

numba compiles each kernel on its first call (on a 2-core machine, about a minute in all)
and caches the machine code on disk: in ``NUMBA_CACHE_DIR`` when set, else beside the
sources or in ``~/.cache/numba``, stamped with a digest of core/'s sources
(:mod:`core.numba_cache`). Run once where the service will run (the Dockerfile does,
at build time), the workers' first requests load that cache instead of compiling, so no
early request times out on a cold start. The requests below take every compiled path:
closed-form, numerical and large-variance activations; general, equal-norm and cross
inputs; shallow and deep networks; and each kind of request.
"""

from __future__ import annotations

import math
import time
from typing import Any

from api.schemas import REQUEST_MODELS
from service.tasks import execute

_GENERAL = [[1.0, 0.0, -1.0], [0.5, 0.5, 1.0], [-1.0, 2.0, 0.0], [0.3, -0.2, 0.1]]
_EQUAL = [[1.0, 0.0], [0.0, 1.0], [0.6, 0.8], [-0.8, 0.6]]


def _kernels(
    activation: Any, sigma_w2: float, depth: int, x1: Any, x2: Any = None, sigma_b2: float = 0.1
) -> Any:
    network = {"activation": activation, "sigma_w2": sigma_w2, "sigma_b2": sigma_b2, "depth": depth}
    body: dict[str, Any] = {"network": network, "x1": x1}
    if x2 is not None:
        body["x2"] = x2
    return ("kernels", body)


def requests() -> list[tuple[str, dict[str, Any]]]:
    """(kind, API body) pairs that together reach every numba kernel."""
    bodies: list[tuple[str, dict[str, Any]]] = []
    for activation in ("relu", "erf", "tanh", "gelu", "sin", "abs", "identity"):
        for depth in (3, 60):
            bodies.append(_kernels(activation, 1.5, depth, _GENERAL))
            bodies.append(_kernels(activation, 1.5, depth, _EQUAL))
        bodies.append(_kernels(activation, 1.5, 5, _GENERAL, _GENERAL[:2]))
    circle = [[math.cos(0.1 * i), math.sin(0.1 * i)] for i in range(64)]  # equal norms
    spread = [[0.01 * i, 1.0, -0.5] for i in range(260)]  # 260² entries: threaded sums
    bodies += [
        _kernels("relu", 1.5, 60, circle),
        _kernels("erf", 1.5, 60, circle),
        _kernels("erf", 1.5, 60, spread[:70]),  # ≥ 4096 pairs past the snap: the settled tail
        _kernels("relu", 1.5, 300, spread[:40]),
        _kernels("tanh", 1.5, 2, spread),
        _kernels("tanh", 1.5, 80, spread[:70]),  # one variance past the snap: δ tables
        _kernels("tanh", 1.5, 2, spread, spread[::-1]),
        _kernels("relu", 1.5, 3000, _GENERAL),  # deficits at many scales in one depth
        _kernels("tanh", 1.2, 400, _GENERAL, sigma_b2=30.0),  # ordered, q* > 16, deep
        _kernels("relu", 3.0, 2000, _GENERAL),  # chaotic, past the compiled pair loop's reach
        _kernels("erf", 1.0, 70000, _GENERAL),  # deep: layer by layer, steady layers
        _kernels("tanh", 40.0, 3, _GENERAL),  # large variances: the erf-split rule
        _kernels("sigmoid", 1.5, 3, _GENERAL),
        _kernels("softplus", 40.0, 3, _GENERAL),  # large variances: the x·Φ(κx) split
        _kernels("softplus", 0.1, 150, _GENERAL, sigma_b2=40.0),  # q* ≈ 42, deep: its slopes
        ("fixed-points", {"activation": "tanh", "sigma_w2": 1.5, "sigma_b2": 0.1}),
        (
            "phase-diagram",
            {
                "activation": "erf",
                "sigma_w2": {"start": 0.5, "stop": 3.0, "num": 4},
                "sigma_b2": {"start": 0.0, "stop": 0.5, "num": 3},
            },
        ),
        (
            "spectra",
            {
                "network": {"activation": "relu", "sigma_w2": 2.0, "sigma_b2": 0.1, "depth": 10},
                "x": _GENERAL,
            },
        ),
        (
            "predictions",
            {
                "network": {"activation": "erf", "sigma_w2": 1.5, "sigma_b2": 0.1, "depth": 10},
                "x_train": _GENERAL,
                "y_train": [1.0, -1.0, 0.5, 0.0],
                "x_test": [[0.2, 0.1, 0.0]],
                "t": [1.0, "inf"],
            },
        ),
        (
            "predictions",
            {
                "network": {"activation": "erf", "sigma_w2": 1.2, "sigma_b2": 0.05, "depth": "inf"},
                "x_train": _GENERAL,
                "y_train": [1.0, -1.0, 0.5, 0.0],
                "x_test": [[0.2, 0.1, 0.0]],
            },
        ),
        (
            "sweeps",
            {
                "activation": "erf",
                "sigma_b2": 0.05,
                "sigma_w2": {"start": 0.5, "stop": 4.0, "num": 3},
                "depths": [1, 10],
                "x_train": _GENERAL,
                "y_train": [0, 1, 0, 1],
                "x_test": [[0.2, 0.1, 0.0]],
                "y_test": [1],
                "t": [10.0, "inf"],
            },
        ),
    ]
    return bodies


def warm_up() -> list[tuple[str, float]]:
    """Run :func:`requests` as the workers would; (kind, seconds) per request."""
    timings = []
    for kind, body in requests():
        request = REQUEST_MODELS[kind].model_validate(body).canonical()  # type: ignore[attr-defined]
        started = time.perf_counter()
        execute(kind, request)
        timings.append((kind, time.perf_counter() - started))
    return timings
