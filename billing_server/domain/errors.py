"""The one error taxonomy of the service.

Each class names the gRPC status code it maps to (by name, so that the domain
does not import grpc) and carries a machine-readable ``reason`` that travels
to callers as ``google.rpc.ErrorInfo``. Messages are for humans and never hold
secrets or stack traces.
"""

from __future__ import annotations

from collections.abc import Mapping


class BillingError(Exception):
    grpc_code = "INTERNAL"
    default_reason = "INTERNAL"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason
        self.metadata = dict(metadata or {})
        self.field = field


class InvalidArgument(BillingError):
    grpc_code = "INVALID_ARGUMENT"
    default_reason = "INVALID_ARGUMENT"


class NotFound(BillingError):
    grpc_code = "NOT_FOUND"
    default_reason = "NOT_FOUND"


class FailedPrecondition(BillingError):
    grpc_code = "FAILED_PRECONDITION"
    default_reason = "FAILED_PRECONDITION"


class PermissionDenied(BillingError):
    grpc_code = "PERMISSION_DENIED"
    default_reason = "PERMISSION_DENIED"


class Unauthenticated(BillingError):
    grpc_code = "UNAUTHENTICATED"
    default_reason = "UNAUTHENTICATED"


class ResourceExhausted(BillingError):
    grpc_code = "RESOURCE_EXHAUSTED"
    default_reason = "RESOURCE_EXHAUSTED"

    def __init__(self, message: str, *, retry_after_s: float, reason: str | None = None) -> None:
        super().__init__(message, reason=reason, metadata={"retry_after_s": f"{retry_after_s:.3f}"})
        self.retry_after_s = retry_after_s


class DeadlineExceeded(BillingError):
    grpc_code = "DEADLINE_EXCEEDED"
    default_reason = "DEADLINE_EXCEEDED"


class Aborted(BillingError):
    """A concurrent request holds what this one needs; the caller may retry."""

    grpc_code = "ABORTED"
    default_reason = "ABORTED"


class Unavailable(BillingError):
    """A dependency (Stripe, the database) cannot be reached; retry later."""

    grpc_code = "UNAVAILABLE"
    default_reason = "UNAVAILABLE"


class InternalError(BillingError):
    grpc_code = "INTERNAL"
    default_reason = "INTERNAL"


# Errors that a retry with the same request would meet again; an idempotency
# record remembers them and replays them. Transient errors are not remembered.
REPLAYABLE: tuple[type[BillingError], ...] = (
    InvalidArgument,
    NotFound,
    FailedPrecondition,
    PermissionDenied,
)


def error_for_code(grpc_code: str) -> type[BillingError]:
    known: tuple[type[BillingError], ...] = (*REPLAYABLE, Aborted, Unavailable, InternalError)
    for cls in known:
        if cls.grpc_code == grpc_code:
            return cls
    return InternalError


def plan_not_found(name: str) -> NotFound:
    return NotFound(f"unknown plan {name!r}", reason="PLAN_NOT_FOUND", metadata={"plan": name})


def feature_not_found(key: str) -> NotFound:
    return NotFound(
        f"no plan includes feature {key!r}",
        reason="FEATURE_NOT_FOUND",
        metadata={"feature": key},
    )
