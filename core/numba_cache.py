"""numba's disk cache of core/'s kernels, stamped with a digest of all of core/'s sources.

numba stamps a kernel's cache entry with its own source file only, yet compiles into it
the code of every compiled function it calls from other modules (core.entry_loop carries
core.erf_mismatch's series, for one). After an edit of the callee's module alone — a
``git pull`` into the editable install the README's commands make, say — the caller's
stale machine code would still be loaded, and old numbers returned. :func:`stamp_sources`
gives numba's source-file cache locators, for the files below a root, a stamp that also
holds a digest of every ``*.py`` below that root: any change there recompiles them all.
(numba's locator list, ``CacheImpl._locator_classes``, is not public API: where it is
missing this does nothing and numba's own stamps apply.)
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from numba.core import caching


def source_digest(paths: Iterable[Path]) -> str:
    """SHA-256 (hex, 16 digits) of the Python sources at ``paths`` (files, or folders read
    recursively), each named by its path relative to its root: any change to them changes it."""
    digest = hashlib.sha256()
    for root in paths:
        files = sorted(root.rglob("*.py")) if root.is_dir() else [root]
        for path in files:
            name = path.relative_to(root).as_posix() if root.is_dir() else path.name
            data = path.read_bytes()
            digest.update(f"{name}\0{len(data)}\0".encode())
            digest.update(data)
    return digest.hexdigest()[:16]


def _stamped(locator: Any, root: Path, digest: str) -> Any:
    """``locator`` restricted to the files below ``root``, its stamp joined with ``digest``."""

    class Stamped(locator):
        stamped_root = root

        def get_source_stamp(self) -> Any:
            return (super().get_source_stamp(), digest)

        @classmethod
        def from_function(cls, py_func: Any, py_file: str) -> Any:
            if not Path(py_file).resolve().is_relative_to(root):
                return None
            return super().from_function(py_func, py_file)

    Stamped.__name__ = Stamped.__qualname__ = f"Stamped{locator.__name__}"
    return Stamped


def stamp_sources(root: Path) -> None:
    """Cache the kernels of the files below ``root`` under a digest of all its sources
    (before those files are imported; once per root)."""
    root = root.resolve()
    locators = getattr(caching.CacheImpl, "_locator_classes", None)
    if locators is None or any(getattr(c, "stamped_root", None) == root for c in locators):
        return
    digest = source_digest([root])
    stamped = [
        _stamped(c, root, digest)
        for c in locators
        if issubclass(c, caching._SourceFileBackedLocatorMixin)
    ]
    caching.CacheImpl._locator_classes = stamped + list(locators)
