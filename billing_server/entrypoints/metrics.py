"""Prometheus metrics of the gRPC server, on an HTTP port of their own."""

from __future__ import annotations

from dataclasses import dataclass

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

    def observe(self, service: str, method: str, code: grpc.StatusCode, seconds: float) -> None:
        self.latency.labels(service, method).observe(seconds)
        self.requests.labels(service, method, code.name).inc()

    def serve(self, address: str) -> int:
        """Serves /metrics on `address` (host:port, port 0 picks one); returns the port."""
        host, port = address.rsplit(":", 1)
        server, _thread = start_http_server(int(port), host, registry=self.registry)
        return int(server.server_port)
