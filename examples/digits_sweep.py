"""Trainability and generalization maps of deep networks on scikit-learn's digits.

Asks a running deepkernel service for POST /v1/sweeps on a subset of the 8×8 digits bundled
with scikit-learn (``load_digits``: nothing is downloaded) and saves the heat maps the
service draws (``Accept: image/png``): train and test accuracy over (σ_w², depth) for erf
networks trained by gradient flow on the NTK, with the depth scales ξ₁ (ordered) and
ξ* (chaotic) — Xiao, Pennington & Schoenholz (ICML 2020), on your own machine.

    deepkernel serve --port 8000 &
    python examples/digits_sweep.py                      # -> examples/digits_sweep.png
    python examples/digits_sweep.py http://host:8000 --output maps.png --train 64

Inputs are centred (the mean image is subtracted) and scaled to ‖x‖² = d, the paper's
normalisation. Where the request exceeds the service's synchronous limits (413), it is
submitted as a job (POST /v1/jobs) and polled until done.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from sklearn.datasets import load_digits

HERE = Path(__file__).resolve().parent
DEPTHS = [1, 2, 3, 4, 6, 8, 11, 16, 22, 32, 45, 64, 90, 128]


def digits_subset(n_train: int, n_test: int, seed: int) -> dict[str, list[Any]]:
    """Class-balanced train/test subsets, centred and scaled to ‖x‖² = d."""
    digits = load_digits()
    x = digits.data.astype(np.float64)
    labels = digits.target.astype(int)
    x -= x.mean(axis=0)
    x *= np.sqrt(x.shape[1]) / np.linalg.norm(x, axis=1, keepdims=True)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(labels))
    # interleave the classes so that every prefix is (nearly) balanced
    by_class = [order[labels[order] == c] for c in range(10)]
    interleaved = np.array([i for group in zip(*by_class, strict=False) for i in group])
    train, test = interleaved[:n_train], interleaved[n_train : n_train + n_test]
    return {
        "x_train": x[train].tolist(),
        "y_train": labels[train].tolist(),
        "x_test": x[test].tolist(),
        "y_test": labels[test].tolist(),
    }


def sweep_body(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "activation": "erf",
        "sigma_b2": args.sigma_b2,
        "sigma_w2": {"start": 0.25, "stop": 4.0, "num": args.num_w2},
        "depths": DEPTHS,
        "t": [args.t, "inf"],
        **digits_subset(args.train, args.test, args.seed),
    }


def run_as_job(client: httpx.Client, body: dict[str, Any]) -> bytes:
    """POST /v1/jobs, poll GET /v1/jobs/{id} until finished, then fetch the PNG result."""
    response = client.post("/v1/jobs", json={"kind": "sweeps", "request": body})
    response.raise_for_status()
    job = response.json()
    while job["status"] in ("queued", "running"):
        print(f"\r  job {job['id'][:12]}: {job['status']} {job['progress']:.0%}", end="")
        time.sleep(1.0)
        job = client.get(f"/v1/jobs/{job['id']}").raise_for_status().json()
    print()
    if job["status"] != "succeeded":
        sys.exit(f"job {job['status']}: {job.get('error')}")
    result = client.get(f"/v1/jobs/{job['id']}/result", headers={"accept": "image/png"})
    return result.raise_for_status().content


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", nargs="?", default="http://127.0.0.1:8000", help="service URL")
    parser.add_argument("--output", type=Path, default=HERE / "digits_sweep.png")
    parser.add_argument("--train", type=int, default=128, help="training digits")
    parser.add_argument("--test", type=int, default=128, help="test digits")
    parser.add_argument("--num-w2", type=int, default=20, help="σ_w² grid points in [0.25, 4]")
    parser.add_argument("--sigma-b2", type=float, default=0.05)
    parser.add_argument("--t", type=float, default=1000.0, help="finite training time, 1/η")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--api-key", default=None, help="X-API-Key, if the service wants one")
    args = parser.parse_args()

    headers = {"X-API-Key": args.api_key} if args.api_key else {}
    body = sweep_body(args)
    start = time.perf_counter()
    with httpx.Client(base_url=args.url, headers=headers, timeout=600.0) as client:
        response = client.post("/v1/sweeps", json=body, headers={"accept": "image/png"})
        if response.status_code == 413:
            print("above the synchronous limits: running it as a job")
            png = run_as_job(client, body)
        else:
            if response.status_code != 200:
                sys.exit(f"{response.status_code}: {response.text}")
            png = response.content
    args.output.write_bytes(png)
    elapsed = time.perf_counter() - start
    print(f"saved {args.output} ({len(png) / 1024:.0f} KiB) in {elapsed:.1f} s")


if __name__ == "__main__":
    main()
