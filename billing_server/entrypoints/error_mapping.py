"""How a domain error becomes a gRPC status (used by the request pipeline).

Domain errors become their declared status code with a `google.rpc.ErrorInfo`
(reason, domain, metadata) and, for bad fields, a `google.rpc.BadRequest`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from billing_server.domain.errors import BillingError, ResourceExhausted

ERROR_DOMAIN = "billing.paymentsvc"


def abort_with(
    context: grpc.ServicerContext,
    exc: BillingError,
    trailing: tuple[tuple[str, str], ...] = (),
) -> None:
    """Ends the call with the error's status, details and hints, plus
    `trailing` metadata (the request id)."""
    status = rpc_status.to_status(to_status(exc))
    extra: tuple[tuple[str, str], ...] = trailing
    if isinstance(exc, ResourceExhausted):
        # Tells well-behaved callers when to come back.
        extra = (*extra, ("retry-after", f"{exc.retry_after_s:.3f}"))
    if extra:
        status = _Status(status.code, status.details, (*status.trailing_metadata, *extra))
    context.abort_with_status(status)


@dataclass(frozen=True)
class _Status(grpc.Status):
    code: grpc.StatusCode
    details: str
    trailing_metadata: tuple[tuple[str, str | bytes], ...]


def to_status(exc: BillingError) -> status_pb2.Status:
    details = [
        _pack(
            error_details_pb2.ErrorInfo(
                reason=exc.reason, domain=ERROR_DOMAIN, metadata=exc.metadata
            )
        )
    ]
    if exc.field:
        details.append(
            _pack(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(
                            field=exc.field, description=exc.message
                        )
                    ]
                )
            )
        )
    return status_pb2.Status(
        code=code_pb2.Code.Value(exc.grpc_code), message=exc.message, details=details
    )


def _pack(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed
