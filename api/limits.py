"""Limits on one request, from the settings (DEEPKERNEL_MAX_*).

* ``max_depth`` bounds every depth, synchronous or not: a larger one is invalid input (422).
* The synchronous limits bound what one HTTP request may compute: points (``max_points``),
  work (``max_work``, in entry-layers n1·n2·depth) and result size (``max_points``² numbers
  per kernel). Above them the answer is 413, naming the limit and pointing to /v1/jobs.

Work model (entry-layers, the cost of one kernel entry through one closed-form layer,
about 250 ns): kernels n1·n2·max(depths); spectra n²·max(depths) plus ``EIGH_WORK`` · n³ per
eigendecomposition (two per depth; a dense eigh costs a few ns per n³); predictions
(n_train + n_test)·n_train·depth plus one eigendecomposition (an infinite depth counts as
``INFINITE_DEPTH_LAYERS`` layers); a phase-diagram cell (a few root solves) counts as
``GRID_CELL_WORK``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from core.errors import InvalidInputError, WorkTooLargeError
from service.settings import Settings

EIGH_WORK = 0.02
INFINITE_DEPTH_LAYERS = 1000
GRID_CELL_WORK = 1_000


def check_depth_limit(kind: str, request: Mapping[str, Any], settings: Settings) -> None:
    """Raise InvalidInputError (422) when a depth exceeds ``max_depth``."""
    network = request.get("network")
    depth = network.get("depth") if isinstance(network, Mapping) else None
    if isinstance(depth, int) and depth > settings.max_depth:
        raise InvalidInputError(
            f"network.depth = {depth} exceeds the service's maximum depth {settings.max_depth} "
            '(DEEPKERNEL_MAX_DEPTH); use a smaller depth, or "inf" where the endpoint '
            "accepts it",
            field="network.depth",
        )


def check_synchronous_limits(kind: str, request: Mapping[str, Any], settings: Settings) -> None:
    """Raise WorkTooLargeError (413) when ``request`` is too large for one HTTP request."""
    if kind == "kernels":
        n1 = len(request["x1"])
        n2 = n1 if request["x2"] is None else len(request["x2"])
        points = n1 if request["x2"] is None else n1 + n2
        _points(points, "x1 and x2", settings)
        _work(n1 * n2 * max(request["depths"]), settings)
        _size(len(request["depths"]) * n1 * n2, settings)
    elif kind == "spectra":
        n = len(request["x"])
        _points(n, "x", settings)
        depths = request["depths"] or [_layers(request["network"]["depth"])]
        _work(n * n * max(depths) + 2 * len(depths) * EIGH_WORK * n**3, settings)
    elif kind == "predictions":
        n_train, n_test = len(request["x_train"]), len(request["x_test"])
        _points(n_train + n_test, "x_train and x_test", settings)
        layers = _layers(request["network"]["depth"])
        _work((n_train + n_test) * n_train * layers + EIGH_WORK * n_train**3, settings)
        _size(len(request["t"]) * (n_train + n_test) * _outputs(request), settings)
    elif kind == "phase-diagram":
        cells = request["sigma_w2"]["num"] * request["sigma_b2"]["num"]
        _work(cells * GRID_CELL_WORK, settings)


def _layers(depth: int | str) -> int:
    return INFINITE_DEPTH_LAYERS if depth == "inf" else int(depth)


def _outputs(request: Mapping[str, Any]) -> int:
    shape = np.shape(request["y_train"])
    return int(shape[1]) if len(shape) == 2 else 1


_JOBS = 'submit the same body as a job: POST /v1/jobs with {"kind": ..., "request": ...}'


def _points(points: int, what: str, settings: Settings) -> None:
    if points > settings.max_points:
        raise WorkTooLargeError(
            f"{what} hold {points} points together, above the synchronous limit "
            f"max_points = {settings.max_points} (DEEPKERNEL_MAX_POINTS); {_JOBS}"
        )


def _work(work: float, settings: Settings) -> None:
    if work > settings.max_work:
        raise WorkTooLargeError(
            f"this request is about {work:.3g} entry-layers of work, above the synchronous "
            f"limit max_work = {settings.max_work:.3g} (DEEPKERNEL_MAX_WORK); {_JOBS}"
        )


def _size(numbers: int, settings: Settings) -> None:
    limit = settings.max_points**2
    if numbers > limit:
        raise WorkTooLargeError(
            f"the result would hold {numbers} numbers per kernel, above the synchronous limit "
            f"max_points² = {limit} (DEEPKERNEL_MAX_POINTS); request fewer depths or times, "
            f"or {_JOBS}"
        )
