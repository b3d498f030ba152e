"""Numerical activations (tanh) before and after the per-variance quadrature, in one run.

The baseline is core/activations/numerical.py at git revision BASELINE (fixed 6001-node
grid, 700 Hermite terms, full Mehler sums per entry), loaded from git into this process;
both sides run core.kernels.compute_kernels on bench_kernels' inputs (σ_w² = 1.5,
σ_b² = 0.1, d = 64), after a warm-up call, with the coefficient memos cleared before each
timed call. Columns: best time of the repeats, ratio, and the max relative difference of
the NTKs.

    .venv/bin/python benchmarks/bench_numerical.py              # n = 500, depth 10
    .venv/bin/python benchmarks/bench_numerical.py --n 1000 --depth 20
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_kernels import SIGMA_B2, SIGMA_W2, inputs

from core.activations import Activation, get_activation, smooth
from core.activations import numerical as after
from core.kernels import compute_kernels
from core.network import Network

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "0293ee9"


def baseline_module(directory: str) -> ModuleType:
    source = subprocess.run(
        ["git", "show", f"{BASELINE}:core/activations/numerical.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = Path(directory) / "numerical_baseline.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("numerical_baseline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["numerical_baseline"] = module
    spec.loader.exec_module(module)
    return module


def timed(act: Activation, x: np.ndarray, depth: int, memos: list[dict], repeats: int):
    network = Network(act, SIGMA_W2, SIGMA_B2, depth)
    compute_kernels(network, x[:80])
    best, ntk = np.inf, None
    for _ in range(repeats):
        for memo in memos:
            memo.clear()
        start = time.perf_counter()
        result = compute_kernels(network, x)
        best = min(best, time.perf_counter() - start)
        assert result.ntk is not None
        ntk = result.ntk[0] * 10.0 ** result.ntk_log10_scale[0]
    return best, ntk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--depth", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        before = baseline_module(tmp)
        old = before.Numerical("tanh", {}, False, "baseline", *smooth.TANH)
        new = get_activation("tanh")
        memos = [before._MEMO, after._MEMO]
        print(
            f"{'inputs':8} {'n':>5} {'L':>4} | {'before s':>9} {'after s':>8} | "
            f"{'ratio':>6} {'NTK diff':>9}"
        )
        for kind in ("general", "equal"):
            x = inputs(args.n, kind)
            t_old, k_old = timed(old, x, args.depth, memos, args.repeats)
            t_new, k_new = timed(new, x, args.depth, memos, args.repeats)
            diff = float(np.max(np.abs(k_new - k_old)) / np.max(np.abs(k_old)))
            print(
                f"{kind:8} {args.n:>5} {args.depth:>4} | {t_old:9.3f} {t_new:8.3f} | "
                f"{t_old / t_new:6.1f} {diff:9.1e}",
                flush=True,
            )


if __name__ == "__main__":
    main()
