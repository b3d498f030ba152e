"""What each compute kind does, inside a worker process: canonical request -> result dict.

The single place that knows how an API request maps onto the core. ``request`` is the
canonical plain data built by the API schemas (``canonical()``); the result's values are
JSON-able scalars and lists, ``None``, or numpy arrays (NaN inside a grid = "does not
exist"). A request with ``"format": "png"`` returns ``{"png": uint8 array}`` instead: the
figure of the result, rendered here so that matplotlib never runs on the event loop.
Each kind imports the core module it needs when it first runs, keeping worker start-up light.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import numpy as np

from core.activations import get_activation
from core.errors import InvalidInputError, NotDefinedError
from core.network import Network

if TYPE_CHECKING:
    from core.sweeps import SweepProblem

Progress = Callable[[float], None] | None


def execute(kind: str, request: Mapping[str, Any], progress: Progress = None) -> dict[str, Any]:
    """Run the computation ``kind`` on ``request``; the response body as a dict."""
    try:
        task = _TASKS[kind]
    except KeyError:
        raise InvalidInputError(f"unknown kind {kind!r}; one of {sorted(_TASKS)}") from None
    result = task(request, progress)
    if request.get("format") == "png":
        from service.figures import render_figure

        return {"png": np.frombuffer(render_figure(kind, request, result), dtype=np.uint8)}
    return result


def network_from(spec: Mapping[str, Any]) -> Network:
    """The core's Network from the canonical ``network`` object ("inf" depth -> None)."""
    depth = spec["depth"]
    return Network(
        activation=get_activation(spec["activation"]),
        sigma_w2=spec["sigma_w2"],
        sigma_b2=spec["sigma_b2"],
        depth=None if depth == "inf" else int(depth),
        input_sigma_w2=spec.get("input_sigma_w2"),
        input_sigma_b2=spec.get("input_sigma_b2"),
    )


def _fixed_points(request: Mapping[str, Any], progress: Progress) -> dict[str, Any]:
    from core.correlation_map import correlation_map
    from core.fixed_points import fixed_points

    activation = get_activation(request["activation"])
    w2, b2 = request["sigma_w2"], request["sigma_b2"]
    points = fixed_points(activation, w2, b2)
    result = {**points.to_dict(), "correlation_map": None}
    size = request.get("correlation_map", 0)
    if size:
        try:
            curve = correlation_map(activation, w2, b2, np.linspace(-1.0, 1.0, size), points)
        except NotDefinedError as exc:
            result["notes"] = [*result["notes"], f"correlation_map: {exc.detail}"]
        else:
            result["correlation_map"] = {"c": curve.c, "f": curve.f, "f_prime": curve.f_prime}
    return result


def _axis(spec: Mapping[str, Any] | list[float]) -> np.ndarray:
    """A canonical range ``{start, stop, num}``, or explicit values (a part of a split)."""
    if isinstance(spec, list):
        return np.asarray(spec, dtype=np.float64)
    return np.linspace(spec["start"], spec["stop"], spec["num"])


def _phase_diagram(request: Mapping[str, Any], progress: Progress) -> dict[str, Any]:
    from core.phase_diagram import phase_diagram

    activation = get_activation(request["activation"])
    sigma_w2, sigma_b2 = _axis(request["sigma_w2"]), _axis(request["sigma_b2"])
    result = phase_diagram(activation, sigma_w2, sigma_b2, progress=progress).to_dict()
    result["phase"] = result["phase"].tolist()  # labels (None: undefined), not a numeric array
    return result


def _kernels(request: Mapping[str, Any], progress: Progress) -> dict[str, Any]:
    from core.kernels import compute_kernels

    result = compute_kernels(
        network_from(request["network"]),
        request["x1"],
        request["x2"],
        depths=list(request["depths"]),
        kernels=tuple(request["kernels"]),
        progress=progress,
    )
    wanted = set(request["kernels"])
    return {
        "depths": [int(d) for d in result.depths],
        "nngp": result.nngp if "nngp" in wanted else None,
        "ntk": result.ntk if "ntk" in wanted else None,
        "nngp_log10_scale": result.nngp_log10_scale if "nngp" in wanted else None,
        "ntk_log10_scale": result.ntk_log10_scale if "ntk" in wanted else None,
        "method": result.method,
    }


def _spectra(request: Mapping[str, Any], progress: Progress) -> dict[str, Any]:
    from core.spectra import spectra

    result = spectra(
        network_from(request["network"]),
        request["x"],
        request["depths"],
        eigenvalues=bool(request["eigenvalues"]),
        progress=progress,
    )
    return result.to_dict()


def _predictions(request: Mapping[str, Any], progress: Progress) -> dict[str, Any]:
    from core.predictions import predict, predict_depths

    network = network_from(request["network"])
    times = tuple(math.inf if t == "inf" else float(t) for t in request["t"])
    training = {
        "kernel": request["kernel"],
        "learning_rate": request["learning_rate"],
        "diag_reg": request["diag_reg"],
        "diag_reg_relative": request["diag_reg_relative"],
    }
    data = (request["x_train"], request["y_train"], request["x_test"])
    if request.get("format") != "png":
        return predict(network, *data, t=times, progress=progress, **training).to_dict()
    # the figure also shows the predictions against depth, at the longest time asked for;
    # at finite depth the deepest of them is the network's own (one recursion for both)
    depths = figure_depths(network.depth)
    curves = predict_depths(network, *data, depths, t=times, progress=progress, **training)
    deepest = (
        curves[-1] if network.depth is not None else predict(network, *data, t=times, **training)
    )
    result = deepest.to_dict()
    longest = int(np.argmax(times))
    result["depth_curve"] = {
        "depths": depths,
        "t": "inf" if math.isinf(times[longest]) else times[longest],
        "mean": np.stack([curve.mean[longest, :, 0] for curve in curves]),
    }
    return result


#: depths of the predictions-against-depth figure: this many, log-spaced up to the network's
#: depth (up to FIGURE_INFINITE_DEPTH beside an infinite-depth limit)
FIGURE_DEPTHS = 24
FIGURE_INFINITE_DEPTH = 1000


def figure_depths(depth: int | None) -> list[int]:
    """Log-spaced depths from 1 to ``depth`` (to FIGURE_INFINITE_DEPTH when None)."""
    top = FIGURE_INFINITE_DEPTH if depth is None else depth
    spaced = np.geomspace(1, top, min(top, FIGURE_DEPTHS))
    return sorted({int(d) for d in np.rint(spaced)})


def sweep_problem_from(request: Mapping[str, Any]) -> SweepProblem:
    """The core's validated sweep from a canonical sweeps request (``sigma_w2`` a range or,
    in a part of a split, explicit values); y arrays of integer dtype are class labels."""
    from core.sweeps import sweep_problem

    return sweep_problem(
        get_activation(request["activation"]),
        request["sigma_b2"],
        _axis(request["sigma_w2"]),
        request["depths"],
        request["x_train"],
        np.asarray(request["y_train"]),
        request["x_test"],
        np.asarray(request["y_test"]),
        tuple(math.inf if t == "inf" else float(t) for t in request["t"]),
    )


def _sweeps(request: Mapping[str, Any], progress: Progress) -> dict[str, Any]:
    from core.sweeps import sweep

    return sweep(sweep_problem_from(request), progress=progress).to_dict()


def split(kind: str, request: Mapping[str, Any], parts: int) -> list[dict[str, Any]]:
    """At most ``parts`` independent requests that together compute ``request``.

    Kinds without a splitter, or too small to split, give ``[request]``. Each part is a
    request of the same kind; :func:`merge` joins their results in order.
    """
    splitter = _SPLITTERS.get(kind)
    if splitter is None or parts < 2:
        return [dict(request)]
    return splitter(request, parts)


def merge(kind: str, request: Mapping[str, Any], results: list[dict[str, Any]]) -> dict[str, Any]:
    """The result of ``request`` from the results of its :func:`split` parts, in order."""
    if len(results) == 1:
        return results[0]
    return _MERGERS[kind](request, results)


def _chunks(size: int, parts: int) -> list[slice]:
    bounds = np.linspace(0, size, min(size, parts) + 1).round().astype(int)
    return [slice(int(a), int(b)) for a, b in pairwise(bounds)]


def _split_phase_diagram(request: Mapping[str, Any], parts: int) -> list[dict[str, Any]]:
    """Blocks of σ_b² rows (each row of the grid is independent of the others)."""
    rows = _axis(request["sigma_b2"])
    return [{**request, "sigma_b2": rows[block].tolist()} for block in _chunks(rows.size, parts)]


def _merge_phase_diagram(
    request: Mapping[str, Any], results: list[dict[str, Any]]
) -> dict[str, Any]:
    merged = dict(results[0])
    for name in ("sigma_b2", "chi_1", "chi_c_star", "q_star", "c_star", "xi_c_star"):
        merged[name] = np.concatenate([part[name] for part in results])
    merged["phase"] = [row for part in results for row in part["phase"]]
    merged["critical_line"] = {
        axis: np.concatenate([part["critical_line"][axis] for part in results])
        for axis in ("sigma_b2", "sigma_w2")
    }
    return merged


def _split_sweeps(request: Mapping[str, Any], parts: int) -> list[dict[str, Any]]:
    """Blocks of σ_w² rows (core.sweeps.sweep_row: each row needs nothing but the problem)."""
    rows = _axis(request["sigma_w2"])
    return [{**request, "sigma_w2": rows[block].tolist()} for block in _chunks(rows.size, parts)]


_SWEEP_AXIS_1 = ("train_loss", "test_loss", "train_accuracy", "test_accuracy")  # [t, w2, depth]
_SWEEP_AXIS_0 = (  # [w2, ...]
    "sigma_w2",
    "condition_number",
    "log10_condition_number",
    "condition_number_is_lower_bound",
    "test_resolved",
    "chi_1",
    "chi_c_star",
    "xi_1",
    "xi_star",
)


def _merge_sweeps(request: Mapping[str, Any], results: list[dict[str, Any]]) -> dict[str, Any]:
    """As core.sweeps.merge_rows, on the parts' result dicts."""
    merged = dict(results[0])
    for names, axis in ((_SWEEP_AXIS_1, 1), (_SWEEP_AXIS_0, 0)):
        for name in names:
            if merged[name] is not None:
                merged[name] = np.concatenate([part[name] for part in results], axis=axis)
    merged["phase"] = [phase for part in results for phase in part["phase"]]
    merged["warnings"] = [warning for part in results for warning in part["warnings"]]
    return merged


_SPLITTERS: dict[str, Callable[[Mapping[str, Any], int], list[dict[str, Any]]]] = {
    "phase-diagram": _split_phase_diagram,
    "sweeps": _split_sweeps,
}
_MERGERS: dict[str, Callable[[Mapping[str, Any], list[dict[str, Any]]], dict[str, Any]]] = {
    "phase-diagram": _merge_phase_diagram,
    "sweeps": _merge_sweeps,
}

_TASKS: dict[str, Callable[[Mapping[str, Any], Progress], dict[str, Any]]] = {
    "fixed-points": _fixed_points,
    "phase-diagram": _phase_diagram,
    "kernels": _kernels,
    "spectra": _spectra,
    "predictions": _predictions,
    "sweeps": _sweeps,
}
