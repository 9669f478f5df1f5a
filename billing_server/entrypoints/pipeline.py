"""What every call to our services passes through, in one wrapper.

In order: the request id (the caller's x-request-id or a new one, sent
back in the trailing metadata), the trace context (W3C, when tracing is on),
the deadline (the caller's, capped by the server's maximum), authentication
and the method's scope, the rate limit, decoding the request (a malformed
one is INVALID_ARGUMENT, not INTERNAL), the servicer, and the mapping of any
error to a status. Then metrics and one access-log line. One wrapper rather
than a chain keeps the hot path short.

The entitlement reads (CheckPlan, GetEntitlements) are most of the traffic
and a log line costs about a quarter of such a call: their successful calls
are logged one in every 1/`access_log_sample`. Their errors, and every call
of the other methods, are always logged; metrics count every call.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from billing_server.deadlines import deadline_in
from billing_server.domain.callers import Identity
from billing_server.domain.errors import BillingError, InvalidArgument, ResourceExhausted
from billing_server.domain.rate_limits import RateLimiter
from billing_server.entrypoints.auth import METHOD_SCOPES, Authenticator
from billing_server.entrypoints.caller import current_identity
from billing_server.entrypoints.error_mapping import abort_with
from billing_server.entrypoints.metrics import ServerMetrics
from paymentsvc_observability import request_ids
from paymentsvc_observability.tracing import context_from

log = logging.getLogger(__name__)
access_log = logging.getLogger("billing_server.access")
SAMPLED_METHODS = frozenset({"CheckPlan", "GetEntitlements"})


class RequestPipeline(grpc.ServerInterceptor):
    def __init__(
        self,
        authenticator: Authenticator,
        limiter: RateLimiter | None,
        metrics: ServerMetrics | None,
        max_deadline_s: float,
        *,
        tracing: bool = False,
        access_log_enabled: bool = True,
        access_log_sample: float = 1.0,
    ) -> None:
        self._authenticator = authenticator
        self._limiter = limiter
        self._metrics = metrics
        self._max_deadline_s = max_deadline_s
        self._tracer = trace.get_tracer("billing_server") if tracing else None
        self._access_log = access_log_enabled
        self._sample_every = round(1 / access_log_sample) if access_log_sample > 0 else 0
        self._sampled_calls = itertools.count()
        # method -> (the servicer's handler, ours around it): grpcio asks for
        # the handler on every call, and the servicer's is the same object.
        self._wrapped: dict[str, tuple[Any, grpc.RpcMethodHandler[Any, Any]]] = {}

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method not in METHOD_SCOPES:
            return handler
        cached = self._wrapped.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = self._wrap(handler, method)
        self._wrapped[method] = (handler, wrapped)
        return wrapped

    def _wrap(
        self, handler: grpc.RpcMethodHandler[Any, Any], method: str
    ) -> grpc.RpcMethodHandler[Any, Any]:
        if handler.unary_stream is not None:
            return self._streaming(handler, method)
        if handler.unary_unary is None:
            return handler
        behavior = handler.unary_unary
        deserialize = handler.request_deserializer
        service, _, name = method.lstrip("/").partition("/")

        def call(raw: bytes, context: grpc.ServicerContext) -> Any:
            started = time.perf_counter()
            metadata = context.invocation_metadata()
            token = request_ids.adopt(_first(metadata, request_ids.HEADER))
            # Returned with the status (trailing metadata): no extra write.
            returned = ((request_ids.HEADER, request_ids.current() or ""),)
            context.set_trailing_metadata(returned)
            code = grpc.StatusCode.OK
            caller = "-"
            with self._span(method, service, name, metadata) as span:
                try:
                    identity = self._admit(context, metadata, method, name)
                    caller = identity.service
                    return self._serve(raw, context, identity, behavior, deserialize)
                except BillingError as exc:
                    code = grpc.StatusCode[exc.grpc_code]
                    abort_with(context, exc, returned)
                except Exception:
                    code = grpc.StatusCode.INTERNAL
                    log.exception("unexpected error in %s", method)
                    context.abort(grpc.StatusCode.INTERNAL, "internal error")
                finally:
                    elapsed = time.perf_counter() - started
                    if span is not None:
                        span.set_attribute("rpc.grpc.status_code", code.value[0])
                        if code is not grpc.StatusCode.OK:
                            span.set_status(Status(StatusCode.ERROR, code.name))
                    if self._metrics is not None:
                        self._metrics.observe(service, name, code, elapsed)
                        if code is grpc.StatusCode.RESOURCE_EXHAUSTED:
                            self._metrics.rate_limited.labels(name).inc()
                    if self._logs(name, code):
                        access_log.info(
                            "%s %s %.2fms caller=%s",
                            name,
                            code.name,
                            elapsed * 1000,
                            caller,
                            extra={
                                "grpc_method": name,
                                "grpc_code": code.name,
                                "duration_ms": round(elapsed * 1000, 3),
                                "caller": caller,
                            },
                        )
                    request_ids.release(token)

        return grpc.unary_unary_rpc_method_handler(
            call, request_deserializer=None, response_serializer=handler.response_serializer
        )

    def _streaming(
        self, handler: grpc.RpcMethodHandler[Any, Any], method: str
    ) -> grpc.RpcMethodHandler[Any, Any]:
        """Server streams (WatchEntitlements) get the same admission checks."""
        behavior = handler.unary_stream
        assert behavior is not None
        deserialize = handler.request_deserializer
        service, _, name = method.lstrip("/").partition("/")

        def stream(raw: bytes, context: grpc.ServicerContext) -> Iterator[Any]:
            started = time.perf_counter()
            metadata = context.invocation_metadata()
            token = request_ids.adopt(_first(metadata, request_ids.HEADER))
            code = grpc.StatusCode.OK
            try:
                identity = self._admit(context, metadata, method, name)
                request = _decode(deserialize, raw)
                identity_token = current_identity.set(identity)
                try:
                    yield from behavior(request, context)
                finally:
                    current_identity.reset(identity_token)
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
                request_ids.release(token)

        return grpc.unary_stream_rpc_method_handler(
            stream, request_deserializer=None, response_serializer=handler.response_serializer
        )

    def _logs(self, name: str, code: grpc.StatusCode) -> bool:
        if not self._access_log:
            return False
        if name not in SAMPLED_METHODS or code is not grpc.StatusCode.OK:
            return True
        every = self._sample_every
        return every > 0 and next(self._sampled_calls) % every == 0

    @contextlib.contextmanager
    def _span(
        self, method: str, service: str, name: str, metadata: Any
    ) -> Iterator[trace.Span | None]:
        if self._tracer is None:
            yield None
            return
        with self._tracer.start_as_current_span(
            method.lstrip("/"),
            context=context_from(metadata),
            kind=SpanKind.SERVER,
            attributes={"rpc.system": "grpc", "rpc.service": service, "rpc.method": name},
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            yield span

    def _admit(
        self, context: grpc.ServicerContext, metadata: Any, method: str, name: str
    ) -> Identity:
        identity = self._authenticator.identify(metadata, method)
        if self._limiter is not None:
            wait = self._limiter.admit(identity.service, name)
            if wait > 0:
                raise ResourceExhausted(
                    f"rate limit for {identity.service} on {name} reached; retry later",
                    retry_after_s=wait,
                    reason="RATE_LIMITED",
                )
        return identity

    def _serve(
        self,
        raw: bytes,
        context: grpc.ServicerContext,
        identity: Identity,
        behavior: Callable[[Any, grpc.ServicerContext], Any],
        deserialize: Callable[[bytes], Any] | None,
    ) -> Any:
        left = context.time_remaining()
        budget = self._max_deadline_s if left is None else min(left, self._max_deadline_s)
        request = _decode(deserialize, raw)
        with deadline_in(budget):
            token = current_identity.set(identity)
            try:
                return behavior(request, context)
            finally:
                current_identity.reset(token)


def _decode(deserialize: Callable[[bytes], Any] | None, raw: bytes) -> Any:
    """The request message; bytes that are not one are the caller's error."""
    try:
        return deserialize(raw) if deserialize is not None else raw
    except Exception:
        raise InvalidArgument("request is not a valid message for this method") from None


def _first(metadata: Any, key: str) -> str | None:
    for k, v in metadata or ():
        if k == key and isinstance(v, str):
            return str(v)
    return None
