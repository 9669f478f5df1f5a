"""Maps every error raised under a gRPC method to a status, in one place.

Domain errors become their declared status code with a `google.rpc.ErrorInfo`
(reason, domain, metadata) and, for bad fields, a `google.rpc.BadRequest`.
Anything unexpected becomes INTERNAL with a message that reveals nothing;
the traceback goes to the server log only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from billing_server.domain.errors import BillingError

log = logging.getLogger(__name__)

ERROR_DOMAIN = "billing.paymentsvc"


class ErrorMappingInterceptor(grpc.ServerInterceptor):
    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        behavior = handler.unary_unary
        method = handler_call_details.method

        def guarded(request: Any, context: grpc.ServicerContext) -> Any:
            try:
                return behavior(request, context)
            except BillingError as exc:
                context.abort_with_status(rpc_status.to_status(to_status(exc)))
            except Exception:
                log.exception("unexpected error in %s", method)
                context.abort(grpc.StatusCode.INTERNAL, "internal error")

        return grpc.unary_unary_rpc_method_handler(
            guarded,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


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
