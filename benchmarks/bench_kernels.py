"""Kernel speed and accuracy against neural-tangents (NT), measured in one run.

NT runs in its own virtualenv (it needs jax and numpy < 2), created once with

    python3 -m venv /work/nt-venv
    /work/nt-venv/bin/pip install "jax==0.4.26" "jaxlib==0.4.26" "numpy<2" "scipy<1.13" \
        "neural-tangents==0.6.5"

Our side runs in this process; the NT side in a subprocess with /work/nt-venv/bin/python
(float64: jax_enable_x64; the kernel function is jitted and called once on the same
input before the timed call, so JIT compilation is excluded). The network is
stax.serial(*[Dense(W_std=σ_w, b_std=σ_b), Act()] * (L-1), Dense(W_std=σ_w, b_std=σ_b))
with σ_w² = 1.5, σ_b² = 0.1 (NT: Relu, Erf, ElementwiseNumerical(tanh, deg=25)).

Inputs: x ~ N(0, 1)^{n×64} ("general": unequal norms, per-entry path) and the same rows
scaled to ‖x‖² = d ("equal": the tabulated composed-dual path).

Columns: time (s, NNGP and NTK together, the best of --repeat calls on each side; ours
timed without tracemalloc), peak memory (MB; ours: tracemalloc peak of numpy allocations
in one more call; NT: max RSS of its whole subprocess, jax runtime included), the max
|ours − NT| / max|NT| over the NTK, and the time ratio NT/ours. NT runs with its address
space capped at 20 GiB; a size past that (n = 4000 at depth 100) prints "NT failed".

    python benchmarks/bench_kernels.py --quick          # n ∈ {500, 1000}
    python benchmarks/bench_kernels.py                  # n ∈ {500, 1000, 2000, 4000}
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.activations import get_activation, numerical
from core.kernels import compute_kernels
from core.network import Network

NT_PYTHON = "/work/nt-venv/bin/python"
#: address-space cap of the NT subprocess (bytes)
NT_MEMORY_LIMIT = 20 * 2**30
SIGMA_W2, SIGMA_B2, DIM = 1.5, 0.1, 64

NT_SCRIPT = r"""
import json, resource, sys, time
import jax
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp
import numpy as np
from neural_tangents import stax

act, depth, w2, b2, path_in, path_out, repeat = sys.argv[1:8]
depth, w2, b2, repeat = int(depth), float(w2), float(b2), int(repeat)
make = {"relu": stax.Relu, "erf": stax.Erf,
        "tanh": lambda: stax.ElementwiseNumerical(jnp.tanh, deg=25)}[act]
layers = []
for _ in range(depth - 1):
    layers += [stax.Dense(1, W_std=w2 ** 0.5, b_std=b2 ** 0.5), make()]
layers += [stax.Dense(1, W_std=w2 ** 0.5, b_std=b2 ** 0.5)]
kernel_fn = jax.jit(stax.serial(*layers)[2], static_argnames="get")
x = np.load(path_in)
kernel_fn(x, None, get=("nngp", "ntk")).ntk.block_until_ready()  # compile
elapsed = float("inf")
for _ in range(repeat):
    start = time.perf_counter()
    k = kernel_fn(x, None, get=("nngp", "ntk"))
    k.ntk.block_until_ready()
    elapsed = min(elapsed, time.perf_counter() - start)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
np.save(path_out, np.asarray(k.ntk))
print(json.dumps({"time": elapsed, "peak_mb": peak / 1024}))
"""


def inputs(n: int, kind: str, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, DIM))
    if kind == "equal":
        x *= np.sqrt(DIM) / np.linalg.norm(x, axis=1, keepdims=True)
    return x


def ours(act: str, depth: int, x: np.ndarray, repeat: int) -> tuple[float, float, np.ndarray, str]:
    """Best time of ``repeat`` calls without tracemalloc (it slows numpy's allocations),
    then the memory peak of one more call with it; numerical activations' coefficient memo
    emptied before each, so no call reuses another's work."""
    network = Network(get_activation(act), SIGMA_W2, SIGMA_B2, depth)
    # compiled code loaded, as in a warm service: the same size (numba paths are chosen by
    # size), other norms (no memoised coefficients)
    compute_kernels(network, 0.5 * x)
    elapsed = float("inf")
    for _ in range(repeat):
        numerical._MEMO.clear()
        start = time.perf_counter()
        result = compute_kernels(network, x)
        elapsed = min(elapsed, time.perf_counter() - start)
    numerical._MEMO.clear()
    tracemalloc.start()
    compute_kernels(network, x)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    assert result.ntk is not None
    ntk = result.ntk[0] * 10.0 ** result.ntk_log10_scale[0]
    return elapsed, peak, ntk, result.method.split(" (")[0].split(":")[0]


def neural_tangents(
    act: str, depth: int, x: np.ndarray, repeat: int
) -> tuple[float, float, np.ndarray] | None:
    """(best time, peak MB, NTK) of NT in its subprocess, or None if it failed (memory)."""
    with tempfile.TemporaryDirectory() as tmp:
        path_in, path_out = Path(tmp) / "x.npy", Path(tmp) / "ntk.npy"
        np.save(path_in, x)
        args = [act, str(depth), str(SIGMA_W2), str(SIGMA_B2), str(path_in), str(path_out)]
        args.append(str(repeat))
        done = subprocess.run(
            [NT_PYTHON, "-c", NT_SCRIPT, *args],
            capture_output=True,
            text=True,
            preexec_fn=_limit_memory,
        )
        if done.returncode != 0:
            return None
        report = json.loads(done.stdout.strip().splitlines()[-1])
        return report["time"], report["peak_mb"], np.load(path_out)


def _limit_memory() -> None:
    """NT's address space capped at NT_MEMORY_LIMIT: past it NT fails (its row says so)
    instead of the kernel's out-of-memory killer picking a process on the machine."""
    resource.setrlimit(resource.RLIMIT_AS, (NT_MEMORY_LIMIT, NT_MEMORY_LIMIT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="n in {500, 1000}")
    parser.add_argument("--n", type=int, nargs="*", default=None)
    parser.add_argument("--depths", type=int, nargs="*", default=[10, 100])
    parser.add_argument("--activations", nargs="*", default=["relu", "erf", "tanh"])
    parser.add_argument("--inputs", nargs="*", default=["general", "equal"])
    parser.add_argument(
        "--repeat", type=int, default=3, help="timed calls per side; the best is reported"
    )
    args = parser.parse_args()
    sizes = args.n or ([500, 1000] if args.quick else [500, 1000, 2000, 4000])
    header = (
        f"{'act':5} {'inputs':8} {'L':>4} {'n':>5} | {'ours s':>8} {'MB':>7} "
        f"{'NT s':>8} {'MB':>7} | {'NT/ours':>8} {'max rel diff':>12}  path"
    )
    print(header)
    print("-" * len(header))
    for act in args.activations:
        for kind in args.inputs:
            for depth in args.depths:
                for n in sizes:
                    x = inputs(n, kind)
                    t_ours, m_ours, k_ours, path = ours(act, depth, x, args.repeat)
                    nt = neural_tangents(act, depth, x, args.repeat)
                    if nt is None:
                        print(
                            f"{act:5} {kind:8} {depth:>4} {n:>5} | {t_ours:8.3f} {m_ours:7.0f} "
                            f"NT failed (over {NT_MEMORY_LIMIT / 2**30:.0f} GiB?)  {path}",
                            flush=True,
                        )
                        continue
                    t_nt, m_nt, k_nt = nt
                    diff = float(np.max(np.abs(k_ours - k_nt)) / np.max(np.abs(k_nt)))
                    print(
                        f"{act:5} {kind:8} {depth:>4} {n:>5} | {t_ours:8.3f} {m_ours:7.0f} "
                        f"{t_nt:8.3f} {m_nt:7.0f} | {t_nt / t_ours:8.1f} {diff:12.2e}  {path}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
