"""One BLAS thread around a product: BLAS's worker threads spin for a while after a call
and would take a core from numba's threads (or other processes') on a small machine."""

from __future__ import annotations

import functools
from contextlib import AbstractContextManager
from typing import Any

from threadpoolctl import ThreadpoolController


@functools.cache
def _controller() -> ThreadpoolController:
    """Built once, on first use (it inspects the loaded libraries: ~14 ms)."""
    return ThreadpoolController()


def one_blas_thread() -> AbstractContextManager[Any]:
    """``with one_blas_thread(): …`` runs the BLAS calls inside on one thread."""
    return _controller().limit(limits=1, user_api="blas")
