"""``deepkernel warmup``, as the Dockerfile runs it, leaves every numba kernel of core/ in
the disk cache (so a fresh container's first requests do not compile for a minute)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from core.activations import mehler
from tests.live_server import console_script
from tests.test_deploy_files import ROOT, instruction

#: a numba decorator with cache=True, written out or through an options dict (mehler's
#: ``**_OPTIONS``, whose "cache" is True)
CACHED_KERNEL = re.compile(
    r"@numba\.(?:njit|vectorize)\((?:[^()]|\([^()]*\))*(?:cache=True|\*\*_\w*OPTIONS)"
)


def entry_kernels() -> set[str]:
    """``module.function`` of every ``cache=True`` numba kernel in core/ that Python code
    calls (kernels called only from other kernels are compiled into them and have no cache
    entry of their own), found by reading the sources."""
    kernels = set()
    for path in (ROOT / "core").rglob("*.py"):
        text = path.read_text()
        bodies = {}
        for match in CACHED_KERNEL.finditer(text):
            name = re.search(r"\ndef (\w+)\(", text[match.end() :])
            assert name is not None, f"{path}: a decorator without a function"
            start = match.end() + name.end()
            end = re.search(r"\n(?:@|def |class |[A-Z_]+ = )", text[start:])
            bodies[name.group(1)] = text[start : start + end.start() if end else len(text)]
        called = {
            callee
            for caller, body in bodies.items()
            for callee in bodies
            if callee != caller and re.search(rf"\b{callee}\(", body)
        }
        kernels |= {f"{path.stem}.{name}" for name in bodies.keys() - called}
    return kernels


def test_the_dockerfile_warms_the_cache_it_points_numba_at() -> None:
    environment = " ".join(instruction("ENV"))
    cache_dir = re.search(r"NUMBA_CACHE_DIR=(\S+)", environment)
    assert cache_dir is not None, "the image sets no NUMBA_CACHE_DIR"
    (warm,) = [run for run in instruction("RUN") if "deepkernel warmup" in run]
    assert f"chown -R deepkernel:deepkernel {cache_dir.group(1)}" in warm


def test_warmup_leaves_every_numba_kernel_in_the_cache(tmp_path: Path) -> None:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    done = subprocess.run(
        [console_script("deepkernel"), "warmup"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "compiled or loaded every numba kernel" in done.stdout
    indexed = {re.sub(r"-\d+\.py\d+\.nbi$", "", p.name) for p in tmp_path.rglob("*.nbi")}
    kernels = entry_kernels()
    assert len(kernels) > 10  # the scan found the kernels
    assert mehler._OPTIONS["cache"] and mehler._GROUP_OPTIONS["cache"]
    assert kernels <= indexed, f"not compiled by the warm-up: {sorted(kernels - indexed)}"
