"""Large-variance rules of the numerical activations: softplus and silu against tanh's rule.

Above their thresholds (tanh 16, softplus and silu 32) the numerical activations leave the
Hermite series for rules in the pre-activations (core/activations/large_variance.py,
core/activations/smooth_relu_large.py). This times, per entry, the NNGP and NTK deficit
forms (``correlation_deficit`` + ``derivative_correlation_deficit``: what a layer of the
recursion asks for) on the same entries, tanh's rule as the baseline, best of --repeat
calls after a warm-up call (which compiles):

    .venv/bin/python benchmarks/bench_large_variance.py
    .venv/bin/python benchmarks/bench_large_variance.py --entries 1000 --repeat 5

Cases: "far" (q around 40 and 1e6, δ uniform in [0.05, 1.9]) and "near c = 1" (q = 1e3,
δ log-uniform in [1e-12, 1e-6], the 2-D rules of the deficits without cancellation).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.activations import get_activation

ACTIVATIONS = ("tanh", "softplus", "silu")


def cases(entries: int) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    out = {}
    for label, q in (("far, q ~ 40", 40.0), ("far, q ~ 1e6", 1e6)):
        q1 = q * (1.0 + 0.1 * rng.random(entries))
        q2 = q * (1.0 + 0.1 * rng.random(entries))
        out[label] = (q1, q2, rng.uniform(0.05, 1.9, entries))
    q = np.full(entries, 1e3)
    out["near c = 1, q = 1e3"] = (q, q, 10.0 ** rng.uniform(-12, -6, entries))
    return out


def seconds(name: str, q1: np.ndarray, q2: np.ndarray, delta: np.ndarray, repeat: int) -> float:
    act = get_activation(name)
    act.correlation_deficit(q1[:4], q2[:4], delta[:4])  # compile
    act.derivative_correlation_deficit(q1[:4], q2[:4], delta[:4])
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        act.correlation_deficit(q1, q2, delta)
        act.derivative_correlation_deficit(q1, q2, delta)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'case':22s} {'activation':10s} {'ms/entry':>9s} {'vs tanh':>8s}")
    for label, (q1, q2, delta) in cases(args.entries).items():
        base = None
        for name in ACTIVATIONS:
            per_entry = seconds(name, q1, q2, delta, args.repeat) / args.entries * 1e3
            base = per_entry if base is None else base
            print(f"{label:22s} {name:10s} {per_entry:9.3f} {per_entry / base:7.2f}x")


if __name__ == "__main__":
    main()
