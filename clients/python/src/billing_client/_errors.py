"""One error taxonomy, mapped back from the server's gRPC status codes.

Each class declares its gRPC status code and the HTTP status a gateway would
use, like the server's own `billing_server.domain.errors`. The machine-readable
``reason`` comes from the `google.rpc.ErrorInfo` the server attaches.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import grpc

from billing_client._status import StatusDetails, details_from_metadata

if TYPE_CHECKING:
    from billing_client._types import DenialReason, PlanCheck


class BillingError(Exception):
    """Base of every error the client raises.

    ``code`` is the gRPC status code, ``reason`` the server's ErrorInfo reason
    (for example ``PLAN_NOT_FOUND``; None when the server sent none, such as a
    connection failure), ``metadata`` the ErrorInfo metadata, ``message`` the
    human-readable text.
    """

    grpc_code: grpc.StatusCode = grpc.StatusCode.UNKNOWN
    http_status: int = 500

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
        code: grpc.StatusCode | None = None,
        field_violations: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.metadata: dict[str, str] = dict(metadata or {})
        self.code = code or self.grpc_code
        self.field_violations = field_violations

    def __str__(self) -> str:
        prefix = f"{self.code.name}"
        if self.reason:
            prefix += f" ({self.reason})"
        return f"{prefix}: {self.message}"


class InvalidArgument(BillingError):
    grpc_code = grpc.StatusCode.INVALID_ARGUMENT
    http_status = 400


class NotFound(BillingError):
    grpc_code = grpc.StatusCode.NOT_FOUND
    http_status = 404


class AlreadyExists(BillingError):
    grpc_code = grpc.StatusCode.ALREADY_EXISTS
    http_status = 409


class FailedPrecondition(BillingError):
    grpc_code = grpc.StatusCode.FAILED_PRECONDITION
    http_status = 400


class PermissionDenied(BillingError):
    grpc_code = grpc.StatusCode.PERMISSION_DENIED
    http_status = 403


class Unauthenticated(BillingError):
    grpc_code = grpc.StatusCode.UNAUTHENTICATED
    http_status = 401


class ResourceExhausted(BillingError):
    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED
    http_status = 429


class Aborted(BillingError):
    """A concurrent request with the same idempotency key is still running."""

    grpc_code = grpc.StatusCode.ABORTED
    http_status = 409


class Unavailable(BillingError):
    """The billing service (or Stripe, or its database) cannot be reached."""

    grpc_code = grpc.StatusCode.UNAVAILABLE
    http_status = 503


class DeadlineExceeded(BillingError):
    grpc_code = grpc.StatusCode.DEADLINE_EXCEEDED
    http_status = 504


class Internal(BillingError):
    grpc_code = grpc.StatusCode.INTERNAL
    http_status = 500


class EntitlementRequired(PermissionDenied):
    """A plan-protected function was called for an account that lacks it.

    Raised by the decorators, never by the server. ``check`` is the answer
    that denied, ``denial_reason`` why, ``required_plan`` the lowest plan that
    would allow the call (None when no plan would).
    """

    default_reason = "ENTITLEMENT_REQUIRED"

    def __init__(self, account_id: str, requirement: str, check: PlanCheck) -> None:
        self.account_id = account_id
        self.requirement = requirement
        self.check = check
        self.denial_reason: DenialReason | None = check.denial_reason
        self.required_plan = check.required_plan
        metadata = {"account_id": account_id, self._kind: requirement}
        if check.denial_reason is not None:
            metadata["denial_reason"] = check.denial_reason.value
        if check.required_plan:
            metadata["required_plan"] = check.required_plan
        reason = check.denial_reason.value if check.denial_reason else "denied"
        super().__init__(
            f"{self._kind} {requirement!r} required ({reason})",
            reason=self.default_reason,
            metadata=metadata,
        )

    _kind = "requirement"


class PlanRequired(EntitlementRequired):
    """The account's plan ranks below the plan the function requires."""

    default_reason = "PLAN_REQUIRED"
    _kind = "plan"


class FeatureRequired(EntitlementRequired):
    """The account's plan does not include the feature the function requires."""

    default_reason = "FEATURE_REQUIRED"
    _kind = "feature"


_BY_CODE: dict[grpc.StatusCode, type[BillingError]] = {
    cls.grpc_code: cls
    for cls in (
        InvalidArgument,
        NotFound,
        AlreadyExists,
        FailedPrecondition,
        PermissionDenied,
        Unauthenticated,
        ResourceExhausted,
        Aborted,
        Unavailable,
        DeadlineExceeded,
        Internal,
    )
}

_TRANSIENT = (Unavailable, DeadlineExceeded, Aborted, ResourceExhausted)
_UNREACHABLE = (Unavailable, DeadlineExceeded)


def is_transient(error: BaseException) -> bool:
    """True when the same call may succeed later: UNAVAILABLE, DEADLINE_EXCEEDED,
    ABORTED or RESOURCE_EXHAUSTED. Retry those with backoff (and the same
    idempotency key); the others fail again."""
    return isinstance(error, _TRANSIENT)


def is_unreachable(error: BaseException) -> bool:
    """True when the billing service did not answer: what failure policies act on."""
    return isinstance(error, _UNREACHABLE)


def error_for_code(code: grpc.StatusCode) -> type[BillingError]:
    return _BY_CODE.get(code, BillingError)


def from_rpc_error(error: grpc.RpcError) -> BillingError:
    """Builds the taxonomy's exception for a failed call (sync or grpc.aio)."""
    call: Any = error
    code: grpc.StatusCode = call.code() if hasattr(call, "code") else grpc.StatusCode.UNKNOWN
    message = (call.details() if hasattr(call, "details") else None) or ""
    trailers = call.trailing_metadata() if hasattr(call, "trailing_metadata") else None
    details: StatusDetails | None = details_from_metadata(trailers)
    cls = error_for_code(code)
    if details is None:
        return cls(message, code=code)
    return cls(
        details.message or message,
        reason=details.reason,
        metadata=details.metadata,
        code=code,
        field_violations=details.field_violations,
    )
