"""core.numba_cache: a kernel's disk cache is stale once any source below the root changes.

Two tiny modules in a temporary package: ``outer.kernel`` (cached) calls ``inner.value``
(compiled into it). Only ``inner.py`` is edited between two fresh processes; with numba's
own stamps the second process loads the first one's machine code and still returns the
old value (the control run shows it), with :func:`stamp_sources` it recompiles.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.numba_cache import source_digest

INNER = """import numba

@numba.njit(cache=True)
def value():
    return {value}
"""
OUTER = """import numba
from {package}.inner import value

@numba.njit(cache=True)
def kernel():
    return value() + 0.5
"""
RUN = """import sys
from pathlib import Path
sys.path.insert(0, {parent!r})
if {stamped}:
    from core.numba_cache import stamp_sources
    stamp_sources(Path({root!r}))
from {package}.outer import kernel
print(kernel())
"""
REPO = Path(__file__).resolve().parents[2]


def _kernel_value(root: Path, stamped: bool) -> float:
    code = RUN.format(parent=str(root.parent), root=str(root), package=root.name, stamped=stamped)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("NUMBA_CACHE_DIR", None)  # the cache beside the sources, as in a clone
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return float(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("stamped", [False, True])
def test_an_edit_of_a_callee_module_alone_recompiles_its_callers(tmp_path, stamped):
    root = tmp_path / f"pkg_{int(stamped)}"
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "outer.py").write_text(OUTER.format(package=root.name))
    (root / "inner.py").write_text(INNER.format(value=1.0))
    assert _kernel_value(root, stamped) == 1.5
    (root / "inner.py").write_text(INNER.format(value=2.0))
    # numba's stamp of outer.py is unchanged: without the digest its cache is loaded
    assert _kernel_value(root, stamped) == (2.5 if stamped else 1.5)


def test_the_digest_covers_every_source_and_its_path(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    first = source_digest([tmp_path])
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.py").write_text("")
    second = source_digest([tmp_path])
    (tmp_path / "sub" / "b.py").rename(tmp_path / "sub" / "c.py")
    third = source_digest([tmp_path])
    (tmp_path / "notes.txt").write_text("not a source")
    assert len({first, second, third}) == 3
    assert source_digest([tmp_path]) == third
