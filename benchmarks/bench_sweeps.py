"""Sweeps: one kernel recursion per σ_w² for every depth, against one prediction per cell.

Baseline (measured in the same run): for every (σ_w², depth) cell, core.predictions.predict
at that depth for every t — a recursion from layer 1 per depth, and t = ∞ and finite t
solved separately. Prints seconds and the ratio baseline / sweep, and checks that both give
the same train and test losses. Both sides run with the same BLAS thread limit (``--threads``,
default 1, as in a service worker: on a busy machine a 2-thread eigh of a 64 × 64 kernel was
10× slower than a 1-thread one).

    .venv/bin/python benchmarks/bench_sweeps.py [--n 64] [--num-w2 6]
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from core.activations import get_activation
from core.network import Network
from core.predictions import predict
from core.sweeps import sweep, sweep_problem

DEPTH_SETS = {
    "shallow": [1, 2, 4, 8, 16],
    "deep": [1, 4, 16, 64, 256, 1024],
    "uniform": list(range(8, 129, 8)),
}


def baseline(problem_args: dict[str, Any], times: list[float]) -> np.ndarray:
    """Train losses [len(t), num_w2, len(depths)] from one predict() per cell."""
    act = problem_args["activation"]
    out = np.zeros((len(times), len(problem_args["sigma_w2"]), len(problem_args["depths"])))
    for i, w2 in enumerate(problem_args["sigma_w2"]):
        for j, depth in enumerate(problem_args["depths"]):
            network = Network(act, float(w2), problem_args["sigma_b2"], depth)
            result = predict(
                network,
                problem_args["x_train"],
                problem_args["y_train"],
                problem_args["x_test"],
                t=times,
            )
            y = problem_args["y_train"]
            out[:, i, j] = np.mean((result.train_mean - y) ** 2, axis=(1, 2))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=64, help="training (and test) points")
    parser.add_argument("--num-w2", type=int, default=6)
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    args = parser.parse_args()
    threadpool_limits(args.threads)
    rng = np.random.default_rng(0)
    d = 16
    x = rng.normal(size=(2 * args.n, d))
    x *= math.sqrt(d) / np.linalg.norm(x, axis=1, keepdims=True)
    labels = (x[:, 0] > 0).astype(int)
    y = np.eye(2)[labels] - 0.5
    times = [10.0, 1000.0, math.inf]
    print(f"n_train = n_test = {args.n}, {args.num_w2} σ_w² values, t = {times}")
    print(
        f"{'depths':>8} {'cells':>6} {'sweep s':>9} {'baseline s':>11} {'ratio':>7} {'max|Δ|':>9}"
    )
    for name, depths in DEPTH_SETS.items():
        common: dict[str, Any] = {
            "activation": get_activation("erf"),
            "sigma_b2": 0.05,
            "sigma_w2": np.linspace(0.5, 4.0, args.num_w2),
            "depths": depths,
            "x_train": x[: args.n],
            "x_test": x[args.n :],
        }
        start = time.perf_counter()
        result = sweep(
            sweep_problem(y_train=labels[: args.n], y_test=labels[args.n :], t=times, **common)
        )
        fast = time.perf_counter() - start
        start = time.perf_counter()
        reference = baseline({**common, "y_train": y[: args.n]}, times)
        slow = time.perf_counter() - start
        diff = float(np.max(np.abs(result.train_loss - reference)))
        cells = args.num_w2 * len(depths)
        print(f"{name:>8} {cells:>6} {fast:>9.2f} {slow:>11.2f} {slow / fast:>7.1f} {diff:>9.1e}")


if __name__ == "__main__":
    main()
