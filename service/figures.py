"""Figures of results, as PNG bytes (matplotlib, Agg canvas, no pyplot global state).

Called inside worker processes by :func:`service.tasks.execute` for ``"format": "png"``
requests, so plotting never blocks the event loop. Each figure labels its axes with the
paper's symbols and states the network it shows.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.patches import Patch

DPI = 150
MAX_CURVES = 8
"""At most this many test points get a curve in the predictions figure."""
SWEEP_XI_FACTOR = 6.0
"""The sweeps maps draw the depth scales ξ₁, ξ* and this multiple of them."""


def render_figure(kind: str, request: Mapping[str, Any], result: Mapping[str, Any]) -> bytes:
    """PNG bytes of the figure for a ``kind`` result computed from ``request``."""
    try:
        draw = _FIGURES[kind]
    except KeyError:
        raise ValueError(f"no figure for kind {kind!r}") from None
    figure = Figure(figsize=(6.4, 4.8), dpi=DPI, layout="constrained")
    draw(figure, request, result)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _activation_label(spec: Mapping[str, Any]) -> str:
    params = ", ".join(f"{k}={v:g}" for k, v in spec.items() if k != "name")
    return f"{spec['name']}({params})" if params else str(spec["name"])


def _network_label(network: Mapping[str, Any]) -> str:
    return (
        f"{_activation_label(network['activation'])}, $\\sigma_w^2$={network['sigma_w2']:g}, "
        f"$\\sigma_b^2$={network['sigma_b2']:g}, L={network['depth']}"
    )


def _phase_diagram(figure: Figure, request: Mapping[str, Any], result: Mapping[str, Any]) -> None:
    """log₁₀ χ₁ over (σ_w², σ_b²), diverging at χ₁ = 1, with the order-to-chaos line."""
    axes = figure.add_subplot()
    sigma_w2 = np.asarray(result["sigma_w2"], dtype=np.float64)
    sigma_b2 = np.asarray(result["sigma_b2"], dtype=np.float64)
    chi_1 = np.asarray(result["chi_1"], dtype=np.float64)
    log_chi = np.full_like(chi_1, np.nan)
    positive = np.isfinite(chi_1) & (chi_1 > 0)
    log_chi[positive] = np.log10(chi_1[positive])
    span = float(np.max(np.abs(log_chi[positive]))) if positive.any() else 1.0
    span = span if span > 0 else 1.0
    image: ScalarMappable
    if sigma_w2.size > 1 and sigma_b2.size > 1:
        image = axes.pcolormesh(
            sigma_w2,
            sigma_b2,
            np.ma.masked_invalid(log_chi),
            shading="nearest",
            cmap="RdBu_r",
            norm=TwoSlopeNorm(vcenter=0.0, vmin=-span, vmax=span),
        )
    else:
        image = axes.scatter(
            np.repeat(sigma_w2[None, :], sigma_b2.size, 0).ravel(),
            np.repeat(sigma_b2[:, None], sigma_w2.size, 1).ravel(),
            c=log_chi.ravel(),
            cmap="RdBu_r",
            norm=TwoSlopeNorm(vcenter=0.0, vmin=-span, vmax=span),
        )
    axes.set_facecolor("0.85")  # grey where χ₁ does not exist
    colorbar = figure.colorbar(image, ax=axes)
    colorbar.set_label(r"$\log_{10}\chi_1$   (< 0 ordered, > 0 chaotic)")
    line = result["critical_line"]
    line_w2 = np.asarray(line["sigma_w2"], dtype=np.float64)
    line_b2 = np.asarray(line["sigma_b2"], dtype=np.float64)
    if line_w2.size:
        axes.plot(
            line_w2, line_b2, color="black", linewidth=1.8, label=r"critical line $\chi_1 = 1$"
        )
        axes.legend(loc="upper left", fontsize="small")
    axes.set_xlim(sigma_w2.min(), sigma_w2.max() if sigma_w2.size > 1 else sigma_w2.min() + 1)
    axes.set_ylim(sigma_b2.min(), sigma_b2.max() if sigma_b2.size > 1 else sigma_b2.min() + 1)
    for text, x in (("ordered", 0.03), ("chaotic", 0.97)):
        axes.text(
            x,
            0.04,
            text,
            transform=axes.transAxes,
            ha="left" if x < 0.5 else "right",
            fontsize="small",
            style="italic",
            color="0.15",
        )
    axes.set_xlabel(r"weight variance $\sigma_w^2$")
    axes.set_ylabel(r"bias variance $\sigma_b^2$")
    axes.set_title(f"Order-to-chaos phase diagram, {_activation_label(request['activation'])}")


def _spectra(figure: Figure, request: Mapping[str, Any], result: Mapping[str, Any]) -> None:
    """log₁₀ κ of Θ and Σ against depth, measured (hollow: lower bounds) and predicted."""
    axes = figure.add_subplot()
    finite = [i for i, d in enumerate(result["depths"]) if d != "inf"]
    depths = np.array([result["depths"][i] for i in finite], dtype=np.float64)
    theory = result.get("theory", {})
    for name, symbol, colour in (("ntk", r"\Theta", "tab:blue"), ("nngp", r"\Sigma", "tab:orange")):
        spectrum = result[name]
        log_kappa = np.array([_nan_if_none(spectrum["log10_condition_number"][i]) for i in finite])
        bound = np.array([spectrum["condition_number_is_lower_bound"][i] for i in finite], bool)
        axes.plot(depths, log_kappa, "-", color=colour, label=f"$\\kappa({symbol})$ measured")
        axes.plot(depths[~bound], log_kappa[~bound], "o", color=colour, markersize=4)
        if bound.any():
            axes.plot(
                depths[bound],
                log_kappa[bound],
                "^",
                mfc="none",
                color=colour,
                label=f"$\\kappa({symbol})$ lower bound (float64)",
            )
        limit = theory.get(f"{name}_condition_number_limit")
        if isinstance(limit, int | float) and limit >= 1:
            axes.axhline(
                math.log10(limit),
                color=colour,
                linestyle="--",
                linewidth=1,
                label=f"$\\kappa({symbol})$ large-depth limit",
            )
        rates = theory.get(f"{name}_log10_condition_number_rate")
        if rates and finite and np.isfinite(log_kappa[-1]) and rates[finite[-1]] is not None:
            rate = np.array([_nan_if_none(rates[i]) for i in finite])
            shifted = rate - rate[-1] + log_kappa[-1]  # the law holds up to a constant
            axes.plot(
                depths,
                shifted,
                ":",
                color=colour,
                linewidth=1.5,
                label=f"$\\kappa({symbol})$ theory: "
                + _LAWS.get(theory.get(f"{name}_bulk_law", ""), "§4 rate"),
            )
    if depths.size > 1 and depths.max() / max(depths.min(), 1.0) >= 20:
        axes.set_xscale("log")
    axes.set_xlabel("depth l (affine layers)")
    axes.set_ylabel(r"$\log_{10}\kappa$,  $\kappa = \lambda_{max}/\lambda_{min}$")
    phase = theory.get("phase")
    title = _network_label(request["network"]) + (f" ({phase})" if phase else "")
    axes.set_title(f"Trainability against depth\n{title}", fontsize="medium")
    axes.legend(fontsize="x-small")


_LAWS = {"l*chi_1^l": r"$\propto 1/(l\,\chi_1^l)$", "chi_1^(l/2)": r"$\propto \chi_1^{-l/2}$"}
"""The ordered-phase κ(Θ) growth laws of MATH.md §4, as the core names them."""


def _nan_if_none(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _predictions(figure: Figure, request: Mapping[str, Any], result: Mapping[str, Any]) -> None:
    """Test predictions (output 0) against training time at the network's depth, and against
    depth at the longest training time asked for (``depth_curve``, computed for the figure)."""
    figure.set_size_inches(11.0, 4.6)
    by_time, by_depth = figure.subplots(1, 2)
    mean = np.asarray(result["mean"], dtype=np.float64)
    points = range(min(mean.shape[1], MAX_CURVES))
    colours = [f"C{point % 10}" for point in points]
    _predictions_by_time(by_time, result, mean, points, colours)
    _predictions_by_depth(by_depth, request, result, points, colours)
    kernel = str(request.get("kernel", "ntk")).upper()
    figure.suptitle(
        f"{kernel} predictions, {_network_label(request['network'])}", fontsize="medium"
    )


def _predictions_by_time(
    axes: Any, result: Mapping[str, Any], mean: np.ndarray, points: range, colours: list[str]
) -> None:
    """f_t(x_test) against t; dashed lines: the t = ∞ values."""
    times = list(result["t"])
    finite = sorted((float(t), i) for i, t in enumerate(times) if t != "inf")
    infinite = [i for i, t in enumerate(times) if t == "inf"]
    if finite:
        t_values = np.array([t for t, _ in finite])
        rows = [i for _, i in finite]
        for point, colour in zip(points, colours, strict=True):
            axes.plot(
                t_values,
                mean[rows, point, 0],
                "o-",
                color=colour,
                markersize=3,
                label=f"x_test[{point}]",
            )
            for i in infinite:
                axes.axhline(mean[i, point, 0], color=colour, linestyle="--", linewidth=1)
        if (t_values > 0).all() and t_values.size > 1:
            axes.set_xscale("log")
        axes.set_xlabel(
            r"training time t (units of $1/\eta$)" + (";  dashed: t = ∞" if infinite else "")
        )
    else:
        for point, colour in zip(points, colours, strict=True):
            axes.plot(
                [point], [mean[infinite[0], point, 0]], "o", color=colour, label=f"x_test[{point}]"
            )
        axes.set_xticks(list(points))
        axes.set_xlabel("test point (t = ∞)")
    axes.set_ylabel(r"mean prediction $f_t(x)$, output 0")
    axes.set_title("against training time", fontsize="medium")
    axes.legend(fontsize="small", ncols=2)


def _predictions_by_depth(
    axes: Any,
    request: Mapping[str, Any],
    result: Mapping[str, Any],
    points: range,
    colours: list[str],
) -> None:
    """f_t(x_test) against depth at one t; at infinite depth, dashed lines: the limit."""
    curve = result["depth_curve"]
    depths = np.asarray(curve["depths"], dtype=np.float64)
    values = np.asarray(curve["mean"], dtype=np.float64)
    infinite = request["network"]["depth"] == "inf"
    row = int(np.argmax([math.inf if t == "inf" else float(t) for t in result["t"]]))
    for point, colour in zip(points, colours, strict=True):
        axes.plot(depths, values[:, point], "o-", color=colour, markersize=3)
        if infinite:
            axes.axhline(result["mean"][row][point][0], color=colour, linestyle="--", linewidth=1)
    if depths.size > 1:
        axes.set_xscale("log")
    t_label = "∞" if curve["t"] == "inf" else f"{float(curve['t']):g}"
    axes.set_xlabel(
        "depth l (affine layers)" + (";  dashed: the infinite-depth limit" if infinite else "")
    )
    axes.set_ylabel(f"mean prediction $f_t(x)$ at t = {t_label}, output 0")
    axes.set_title("against depth", fontsize="medium")


def _sweeps(figure: Figure, request: Mapping[str, Any], result: Mapping[str, Any]) -> None:
    """Heat maps over (σ_w², depth) with the depth scales ξ₁ (ordered) and ξ* (chaotic).

    Class labels: train and test accuracy after the largest finite t, test accuracy at
    t = ∞, and the t = ∞ test loss relative to predicting the mean ((K−1)/K² for K
    classes): 1 = the data are forgotten. Regression: log₁₀ of the same losses."""
    times = list(result["t"])
    finite = [i for i, t in enumerate(times) if t != "inf"]
    infinite = [i for i, t in enumerate(times) if t == "inf"]
    shown = max(finite, key=lambda i: float(times[i])) if finite else infinite[0]
    last = infinite[0] if infinite else shown
    accuracy = result.get("train_accuracy") is not None
    panels = [("train", shown), ("test", shown)]
    if last != shown:
        panels.append(("test", last))
    if accuracy:
        panels.append(("forgotten", last))
    figure.set_size_inches(3.9 * len(panels) + 1.0, 4.2)
    sigma_w2 = np.asarray(result["sigma_w2"], dtype=np.float64)
    depths = np.asarray(result["depths"], dtype=np.float64)
    log_depth = depths.size > 1 and depths.max() / depths.min() >= 20
    w2_edges = _edges(sigma_w2, log=False)
    depth_edges = _edges(depths, log=log_depth)
    axes_list = figure.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    for axes, (which, index) in zip(axes_list, panels, strict=True):
        time = "∞" if times[index] == "inf" else f"{float(times[index]):g}"
        if which == "forgotten":
            classes = float(result["classes"])
            loss = np.asarray(result["test_loss"][index], dtype=np.float64)
            image = axes.pcolormesh(
                w2_edges,
                depth_edges,
                (loss * classes**2 / (classes - 1)).T,
                cmap="magma",
                vmin=0.0,
                vmax=1.0,
            )
            figure.colorbar(image, ax=axes, extend="max", label="1: predicts the mean")
            axes.set_title(f"test loss / loss of the mean, t = {time}", fontsize="medium")
        elif accuracy:
            values = np.array(
                [[_nan_if_none(v) for v in row] for row in result[f"{which}_accuracy"][index]]
            )
            image = axes.pcolormesh(
                w2_edges,
                depth_edges,
                np.ma.masked_invalid(values.T),
                cmap="viridis",
                vmin=1.0 / float(result["classes"]),
                vmax=1.0,
            )
            axes.set_facecolor("0.8")  # no accuracy: predictions below float64 resolution
            axes.set_title(f"{which} accuracy, t = {time}", fontsize="medium")
        else:
            loss = np.asarray(result[f"{which}_loss"][index], dtype=np.float64)
            image = axes.pcolormesh(
                w2_edges, depth_edges, np.log10(np.maximum(loss, 1e-300)).T, cmap="viridis_r"
            )
            figure.colorbar(image, ax=axes, label=rf"$\log_{{10}}$ {which} loss")
            axes.set_title(f"{which} loss, t = {time}", fontsize="medium")
        _depth_scales(axes, sigma_w2, result)
        axes.set_xlim(w2_edges[0], w2_edges[-1])
        axes.set_ylim(depth_edges[0], depth_edges[-1])
        if log_depth:
            axes.set_yscale("log")
        axes.set_xlabel(r"weight variance $\sigma_w^2$")
    axes_list[0].set_ylabel("depth L (affine layers)")
    if accuracy:
        colorbar = figure.colorbar(
            axes_list[0].collections[0], ax=list(axes_list[: len(panels) - 1]), pad=0.01
        )
        colorbar.set_label("argmax accuracy (bottom: chance)")
    handles, labels = axes_list[0].get_legend_handles_labels()
    if accuracy and not np.all(np.asarray(result["test_resolved"], dtype=bool)):
        handles.append(Patch(facecolor="0.8", edgecolor="0.5"))
        labels.append("test f below float64\nresolution (= the mean)")
    axes_list[0].legend(handles, labels, loc="lower right", fontsize="x-small", framealpha=0.6)
    n_train, n_test = len(request["x_train"]), len(request["x_test"])
    figure.suptitle(
        f"Trainability and generalization, {_activation_label(result['activation'])}, "
        f"$\\sigma_b^2$={float(result['sigma_b2']):g}; {n_train} train / {n_test} test points",
        fontsize="medium",
    )


def _depth_scales(axes: Any, sigma_w2: np.ndarray, result: Mapping[str, Any]) -> None:
    """ξ₁ (ordered) and ξ* (chaotic) against σ_w², and SWEEP_XI_FACTOR times them."""
    for name, label, colour in (("xi_1", r"$\xi_1$", "white"), ("xi_star", r"$\xi^*$", "#ff9a9a")):
        scales = np.array([_nan_if_none(v) for v in result[name]])
        for factor, style in ((1.0, "-"), (SWEEP_XI_FACTOR, "--")):
            axes.plot(
                sigma_w2,
                factor * scales,
                style,
                color=colour,
                linewidth=1.6,
                label=label if factor == 1.0 else f"{factor:g}{label}",
            )


def _edges(centres: np.ndarray, *, log: bool) -> np.ndarray:
    """Cell edges around sorted centres (geometric midpoints on a log axis)."""
    values = np.log(centres) if log else centres
    if values.size == 1:
        edges = np.array([values[0] - 0.5, values[0] + 0.5])
    else:
        mid = (values[1:] + values[:-1]) / 2
        edges = np.concatenate(
            [[values[0] - (mid[0] - values[0])], mid, [values[-1] + (values[-1] - mid[-1])]]
        )
    return np.exp(edges) if log else edges


_FIGURES: dict[str, Callable[[Figure, Mapping[str, Any], Mapping[str, Any]], None]] = {
    "phase-diagram": _phase_diagram,
    "spectra": _spectra,
    "predictions": _predictions,
    "sweeps": _sweeps,
}
