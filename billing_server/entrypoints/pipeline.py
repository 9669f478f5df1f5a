"""What every call to our services passes through, in one wrapper.

In order: the deadline (the caller's, capped by the server's maximum),
authentication and the method's scope, the rate limit, decoding the request
(a malformed one is INVALID_ARGUMENT, not INTERNAL), the servicer, and the
mapping of any error to a status. Metrics record the final code and the
time taken. One wrapper rather than a chain keeps the hot path short.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import grpc

from billing_server.deadlines import deadline_in
from billing_server.domain.errors import BillingError, InvalidArgument, ResourceExhausted
from billing_server.domain.rate_limits import RateLimiter
from billing_server.entrypoints.auth import METHOD_SCOPES, Authenticator
from billing_server.entrypoints.caller import current_identity
from billing_server.entrypoints.error_mapping import abort_with
from billing_server.entrypoints.metrics import ServerMetrics

log = logging.getLogger(__name__)


class RequestPipeline(grpc.ServerInterceptor):
    def __init__(
        self,
        authenticator: Authenticator,
        limiter: RateLimiter | None,
        metrics: ServerMetrics | None,
        max_deadline_s: float,
    ) -> None:
        self._authenticator = authenticator
        self._limiter = limiter
        self._metrics = metrics
        self._max_deadline_s = max_deadline_s

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or handler.unary_unary is None or method not in METHOD_SCOPES:
            return handler
        behavior = handler.unary_unary
        deserialize = handler.request_deserializer
        service, _, name = method.lstrip("/").partition("/")

        def call(raw: bytes, context: grpc.ServicerContext) -> Any:
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            try:
                return self._run(raw, context, method, name, behavior, deserialize)
            except BillingError as exc:
                code = grpc.StatusCode[exc.grpc_code]
                abort_with(context, exc)
            except Exception:
                code = grpc.StatusCode.INTERNAL
                log.exception("unexpected error in %s", method)
                context.abort(grpc.StatusCode.INTERNAL, "internal error")
            finally:
                if self._metrics is not None:
                    self._metrics.observe(service, name, code, time.perf_counter() - started)

        return grpc.unary_unary_rpc_method_handler(
            call, request_deserializer=None, response_serializer=handler.response_serializer
        )

    def _run(
        self,
        raw: bytes,
        context: grpc.ServicerContext,
        method: str,
        name: str,
        behavior: Callable[[Any, grpc.ServicerContext], Any],
        deserialize: Callable[[bytes], Any] | None,
    ) -> Any:
        left = context.time_remaining()
        budget = self._max_deadline_s if left is None else min(left, self._max_deadline_s)
        with deadline_in(budget):
            identity = self._authenticator.identify(context.invocation_metadata(), method)
            if self._limiter is not None:
                wait = self._limiter.admit(identity.service, name)
                if wait > 0:
                    raise ResourceExhausted(
                        f"rate limit for {identity.service} on {name} reached; retry later",
                        retry_after_s=wait,
                        reason="RATE_LIMITED",
                    )
            try:
                request = deserialize(raw) if deserialize is not None else raw
            except Exception:
                raise InvalidArgument("request is not a valid message for this method") from None
            token = current_identity.set(identity)
            try:
                return behavior(request, context)
            finally:
                current_identity.reset(token)
