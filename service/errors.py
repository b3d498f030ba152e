"""Failures of the service itself (not of the caller's input), in the core's hierarchy.

They subclass :class:`core.errors.DeepKernelError`, so the API's one exception handler renders
them as problem+json with their own status; ``headers`` carries ``Retry-After`` where a retry
is the right answer.
"""

from __future__ import annotations

from core.errors import DeepKernelError


class ServiceError(DeepKernelError):
    """A server-side failure that a retry may cure. ``retry_after`` is in seconds."""

    status = 503
    slug = "service-unavailable"
    title = "Service unavailable"

    def __init__(self, detail: str, *, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        """Response headers the problem should carry."""
        return {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}


class SaturatedError(ServiceError):
    """Every admission slot (running + waiting) is taken."""

    slug = "saturated"
    title = "Server saturated"


class WorkerCrashedError(ServiceError):
    """The worker process died while computing (killed, out of memory, crashed)."""

    slug = "worker-crashed"
    title = "Worker crashed"


class ComputeTimeoutError(ServiceError):
    """The computation exceeded the request timeout and was stopped."""

    status = 504
    slug = "timeout"
    title = "Computation timed out"


class ShuttingDownError(ServiceError):
    """The pool is closing and admits no new work."""

    slug = "shutting-down"
    title = "Service shutting down"


class WorkerTaskError(RuntimeError):
    """An unexpected exception inside a worker (a bug, not the caller's fault): HTTP 500."""
