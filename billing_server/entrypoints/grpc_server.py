"""Builds the gRPC server: billing service, health checking, reflection."""

from __future__ import annotations

from concurrent import futures
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from billing.v1 import billing_pb2, billing_pb2_grpc, webhook_ingest_pb2, webhook_ingest_pb2_grpc
from billing_server.entrypoints.error_mapping import ErrorMappingInterceptor
from billing_server.entrypoints.ingest_servicer import WebhookIngestServicer
from billing_server.entrypoints.metrics import MetricsInterceptor, ServerMetrics
from billing_server.entrypoints.servicer import BillingServicer
from billing_server.service_layer.dependencies import Dependencies

BILLING_SERVICE = billing_pb2.DESCRIPTOR.services_by_name["BillingService"].full_name
INGEST_SERVICE = webhook_ingest_pb2.DESCRIPTOR.services_by_name["WebhookIngestService"].full_name
SERVICES = (BILLING_SERVICE, INGEST_SERVICE)


@dataclass(frozen=True)
class RunningServer:
    server: grpc.Server
    port: int
    health: health.HealthServicer

    def set_serving(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for service in ("", *SERVICES):
            self.health.set(service, status)


def create_server(
    deps: Dependencies, address: str, max_workers: int, metrics: ServerMetrics | None = None
) -> RunningServer:
    """Binds `address` (port 0 picks a free port) and starts serving."""
    # The metrics interceptor is outermost so that it sees the final code.
    interceptors: list[grpc.ServerInterceptor] = [ErrorMappingInterceptor()]
    if metrics is not None:
        interceptors.insert(0, MetricsInterceptor(metrics))
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc"),
        interceptors=interceptors,
        options=[("grpc.max_receive_message_length", 1 << 20)],
    )
    billing_pb2_grpc.add_BillingServiceServicer_to_server(BillingServicer(deps), server)
    webhook_ingest_pb2_grpc.add_WebhookIngestServiceServicer_to_server(
        WebhookIngestServicer(deps), server
    )
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*SERVICES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    port = server.add_insecure_port(address)
    server.start()
    running = RunningServer(server, port, health_servicer)
    running.set_serving(True)
    return running
