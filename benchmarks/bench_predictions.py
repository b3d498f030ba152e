"""Time and agreement of core.predictions.predict against neural-tangents, in the same run.

neural-tangents runs in its own virtualenv (default /work/nt-venv/bin/python, or
$NT_PYTHON) through a subprocess, in float64 (jax_enable_x64), timed after a warm-up call so
JIT compilation is excluded. Both sides compute the kernels and the prediction (end to end).
Time conventions: NT's loss is ½·mean over the y.size = n·k entries, ours ½·sum, so at the
same η, t_NT = n·k·t (see core/predictions.py). "diff" is max |ours − NT| / max |y|.

    python benchmarks/bench_predictions.py            # n up to 4000
    python benchmarks/bench_predictions.py --quick    # small n

Both sides run with the same thread limit (``--threads``, default 1: on a shared machine a
multi-threaded eigh can be 10× slower than a single-threaded one).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.activations import get_activation
from core.network import Network
from core.predictions import predict

NT_PYTHON = os.environ.get("NT_PYTHON", "/work/nt-venv/bin/python")

NT_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import neural_tangents as nt
    from neural_tangents import stax

    spec = json.loads(sys.argv[1])
    data = np.load(spec["data"])
    acts = {"relu": stax.Relu, "erf": stax.Erf}
    w, b = spec["sigma_w2"] ** 0.5, spec["sigma_b2"] ** 0.5
    layers = []
    for _ in range(spec["depth"] - 1):
        layers += [stax.Dense(512, W_std=w, b_std=b), acts[spec["activation"]]()]
    layers += [stax.Dense(1, W_std=w, b_std=b)]
    _, _, kernel_fn = stax.serial(*layers)
    kernel_fn = jax.jit(kernel_fn, static_argnames="get")
    x_train, y_train, x_test = (jnp.asarray(data[k]) for k in ("x_train", "y_train", "x_test"))
    n_k = y_train.size
    finite = jnp.asarray([t * n_k for t in spec["t"] if t != "inf"])

    def run():
        fn = nt.predict.gradient_descent_mse_ensemble(
            kernel_fn, x_train, y_train, learning_rate=spec["learning_rate"], diag_reg=0.0)
        means = list(np.asarray(fn(t=finite, x_test=x_test, get="ntk", compute_cov=False)))
        if "inf" in spec["t"]:
            means.append(np.asarray(fn(t=None, x_test=x_test, get="ntk", compute_cov=False)))
        return means

    run()  # warm-up: JIT compilation
    start = time.perf_counter()
    means = run()
    elapsed = time.perf_counter() - start
    np.save(spec["out"], np.stack(means))
    print(json.dumps({"seconds": elapsed}))
    """
)


def run_case(
    activation: str, sigma_w2: float, sigma_b2: float, depth: int, n: int, m: int, threads: int
) -> dict[str, object]:
    rng = np.random.default_rng(n + depth)
    d = 16
    x = rng.normal(size=(n + m, d))
    x *= math.sqrt(d) / np.linalg.norm(x, axis=1, keepdims=True)
    y = np.sign(x[:n, :1] + 0.3 * x[:n, 1:2])
    times = [1.0, 100.0, "inf"]
    network = Network(get_activation(activation), sigma_w2, sigma_b2, depth)
    eta = 1.0
    ours_t = [math.inf if t == "inf" else float(t) for t in times]
    with threadpool_limits(threads):
        # warm-up on the same input, as NT's JIT warm-up: a smaller one leaves numba paths
        # chosen by size (parallel loops) to compile or load inside the timed call
        predict(network, x[:n], y, x[n:], t=ours_t, learning_rate=eta)
        start = time.perf_counter()
        result = predict(network, x[:n], y, x[n:], t=ours_t, learning_rate=eta)
        ours_seconds = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data.npz"
        out = Path(tmp) / "out.npy"
        np.savez(data, x_train=x[:n], y_train=y, x_test=x[n:])
        spec = {
            "data": str(data),
            "out": str(out),
            "activation": activation,
            "sigma_w2": sigma_w2,
            "sigma_b2": sigma_b2,
            "depth": depth,
            "t": times,
            "learning_rate": eta,
        }
        proc = subprocess.run(
            [NT_PYTHON, "-c", NT_SCRIPT, json.dumps(spec)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **_xla_threads(threads)},
        )
        nt_seconds = json.loads(proc.stdout.strip().splitlines()[-1])["seconds"]
        nt_means = np.load(out)
    rows = {}
    for i, t in enumerate(times):
        ref = nt_means[i]
        ours = result.mean[i]
        nan = bool(np.any(~np.isfinite(ref)))
        err = float(np.max(np.abs(ours - ref)) / np.max(np.abs(y))) if not nan else math.nan
        rows[str(t)] = (err, nan)
    return {
        "case": f"{activation} w2={sigma_w2} b2={sigma_b2} L={depth}",
        "n": n,
        "ours_s": ours_seconds,
        "nt_s": nt_seconds,
        "rows": rows,
        "solver": result.solver,
        "kappa": result.log10_condition_number,
    }


def _xla_threads(threads: int) -> dict[str, str]:
    """XLA's CPU thread settings matching our BLAS thread limit."""
    if threads != 1:
        return {}
    return {"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small n only")
    parser.add_argument(
        "--threads", type=int, default=1, help="BLAS/XLA threads for both sides (default 1)"
    )
    args = parser.parse_args()
    sizes = [100, 400] if args.quick else [250, 1000, 4000]
    cases = [("relu", 1.5, 0.05, 10), ("erf", 1.2, 0.05, 10)]
    hard = [("relu", 1.0, 0.1, 100), ("erf", 1.0, 0.1, 200)]
    print(
        f"{'case':34} {'n':>5} {'ours s':>8} {'NT s':>8} {'NT/ours':>8} "
        f"{'diff t=1':>13} {'t=100':>10} {'t=inf':>10}  log10κ  solver"
    )
    plans = [(c, n) for n in sizes for c in cases] + [(c, sizes[0]) for c in hard]
    for (act, w2, b2, depth), n in plans:
        r = run_case(act, w2, b2, depth, n, 50, args.threads)
        cells = []
        for key in ("1.0", "100.0", "inf"):
            err, nan = r["rows"][key]  # type: ignore[index]
            cells.append("NT NaN" if nan else f"{err:.1e}")
        ratio = float(r["nt_s"]) / float(r["ours_s"])  # type: ignore[arg-type]
        kappa = r["kappa"]
        kappa_text = f"{kappa:6.1f}" if isinstance(kappa, float) else "   n/a"
        print(
            f"{r['case']:34} {r['n']:>5} {r['ours_s']:8.2f} {r['nt_s']:8.2f} {ratio:8.2f} "
            f"{cells[0]:>13} {cells[1]:>10} {cells[2]:>10}  {kappa_text}  {r['solver']}",
            flush=True,
        )


if __name__ == "__main__":
    main()
