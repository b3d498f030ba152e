"""Phase-diagram speed: the vectorised grid against a per-cell loop over fixed_points().

Run: .venv/bin/python -m benchmarks.bench_phase_diagram [--full-baseline]

The baseline calls ``fixed_points`` once per cell, in the same run. By default it is timed
on an evenly spread subset of the cells and scaled up by the cell count (the table says so);
``--full-baseline`` loops over every cell instead (minutes for 200 × 200). Both paths must
agree: the script checks the subset's χ₁ against the grid (to 1e-12: a quadrature's
sums round differently for a row of cells than for one).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from core.activations import get_activation
from core.fixed_points import fixed_points
from core.phase_diagram import phase_diagram

CASES = [("relu", 200), ("erf", 200), ("tanh", 20)]
SUBSET = 400  # cells timed for the scaled baseline


def _best_of(repeats: int, run) -> float:
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full-baseline", action="store_true", help="loop over every cell")
    args = parser.parse_args()

    print(f"{'activation':<10} {'grid':>9} {'vectorised s':>13} {'per-cell loop s':>16} "
          f"{'loop cells':>11} {'speed-up':>9}")  # fmt: skip
    for name, size in CASES:
        activation = get_activation(name)
        w2 = np.linspace(0.1, 4.0, size)
        b2 = np.linspace(0.0, 1.0, size)
        repeats = 3 if activation.closed_form else 1
        diagram = phase_diagram(activation, w2, b2)
        grid_time = _best_of(repeats, lambda a=activation, w=w2, b=b2: phase_diagram(a, w, b))

        cells = [(i, j) for i in range(size) for j in range(size)]
        if not args.full_baseline and len(cells) > SUBSET:
            picks = np.linspace(0, len(cells) - 1, SUBSET).astype(int)
            cells = [cells[k] for k in picks]
        start = time.perf_counter()
        for i, j in cells:
            fp = fixed_points(activation, w2[j], b2[i])
            expected = math.nan if fp.chi_1 is None else fp.chi_1
            np.testing.assert_allclose(diagram.chi_1[i, j], expected, rtol=1e-12)
        loop_time = (time.perf_counter() - start) * size * size / len(cells)
        print(
            f"{name:<10} {f'{size}x{size}':>9} {grid_time:>13.3f} {loop_time:>16.2f} "
            f"{len(cells):>11} {loop_time / grid_time:>8.0f}x"
        )
    print("per-cell loop s: measured on 'loop cells' cells and scaled to the whole grid")


if __name__ == "__main__":
    main()
