"""The one exception hierarchy of deepkernel.

Every error the core raises on purpose is a :class:`DeepKernelError`. Each class carries
the HTTP status and a stable problem ``type`` slug so that the web layer can render all of
them once, as RFC 9457 problem+json, without knowing any of them by name.
"""

from __future__ import annotations


class DeepKernelError(Exception):
    """Base class: a failure a caller can understand and act on."""

    status: int = 400
    slug: str = "bad-request"
    title: str = "Bad request"

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class InvalidInputError(DeepKernelError):
    """The input is well formed but cannot be computed as given (e.g. inconsistent shapes)."""

    status = 422
    slug = "invalid-input"
    title = "Invalid input"


class UnknownActivationError(InvalidInputError):
    """The activation name or its parameters are not in the registry."""

    slug = "unknown-activation"
    title = "Unknown activation"


class WorkTooLargeError(DeepKernelError):
    """The work exceeds a configured synchronous limit; it should be submitted as a job."""

    status = 413
    slug = "work-too-large"
    title = "Work too large for a synchronous request"


class NumericalError(DeepKernelError):
    """float64 cannot deliver a trustworthy answer for this input (stated, never hidden)."""

    status = 422
    slug = "numerical-limit"
    title = "Beyond what float64 can resolve"


class NotDefinedError(DeepKernelError):
    """The quantity does not exist for these parameters (e.g. no limit on the critical line)."""

    status = 422
    slug = "not-defined"
    title = "Quantity not defined for these parameters"


class CancelledError(DeepKernelError):
    """The computation was cancelled by its caller (a job's cancellation, a timeout)."""

    status = 499
    slug = "cancelled"
    title = "Computation cancelled"
