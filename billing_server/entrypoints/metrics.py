"""Prometheus metrics of the gRPC server, on an HTTP port of their own."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

# Sub-millisecond buckets: CheckPlan must be resolvable well below 1 ms.
LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
)  # fmt: skip


@dataclass(frozen=True)
class ServerMetrics:
    registry: CollectorRegistry
    requests: Counter
    latency: Histogram

    @classmethod
    def create(cls) -> ServerMetrics:
        registry = CollectorRegistry()
        return cls(
            registry=registry,
            requests=Counter(
                "paymentsvc_grpc_server_handled",
                "RPCs completed on the server, by method and status code.",
                ["grpc_service", "grpc_method", "grpc_code"],
                registry=registry,
            ),
            latency=Histogram(
                "paymentsvc_grpc_server_handling_seconds",
                "Time to handle an RPC on the server.",
                ["grpc_service", "grpc_method"],
                buckets=LATENCY_BUCKETS,
                registry=registry,
            ),
        )

    def serve(self, address: str) -> int:
        """Serves /metrics on `address` (host:port, port 0 picks one); returns the port."""
        host, port = address.rsplit(":", 1)
        server, _thread = start_http_server(int(port), host, registry=self.registry)
        return int(server.server_port)


class MetricsInterceptor(grpc.ServerInterceptor):
    """Counts and times every unary RPC, with the status code it ended with."""

    def __init__(self, metrics: ServerMetrics) -> None:
        self._metrics = metrics

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        behavior = handler.unary_unary
        service, _, method = handler_call_details.method.lstrip("/").partition("/")
        requests, latency = self._metrics.requests, self._metrics.latency

        def measured(request: Any, context: grpc.ServicerContext) -> Any:
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            try:
                return behavior(request, context)
            except BaseException:
                code = _code_of(context)
                raise
            finally:
                latency.labels(service, method).observe(time.perf_counter() - started)
                requests.labels(service, method, code.name).inc()

        return grpc.unary_unary_rpc_method_handler(
            measured,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


def _code_of(context: grpc.ServicerContext) -> grpc.StatusCode:
    # grpcio's context knows the code an abort set (the type stubs omit it).
    code = getattr(context, "code", lambda: None)()
    return code if isinstance(code, grpc.StatusCode) else grpc.StatusCode.UNKNOWN
