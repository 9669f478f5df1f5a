"""Builds the gRPC server: our services, health checking, reflection, TLS."""

from __future__ import annotations

import threading
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from billing.v1 import billing_pb2, billing_pb2_grpc, webhook_ingest_pb2, webhook_ingest_pb2_grpc
from billing_server.entrypoints.ingest_servicer import WebhookIngestServicer
from billing_server.entrypoints.pipeline import RequestPipeline
from billing_server.entrypoints.servicer import BillingServicer
from billing_server.entrypoints.watch_servicer import Watchers
from billing_server.service_layer.change_feed import ChangeFeed
from billing_server.service_layer.dependencies import Dependencies

BILLING_SERVICE = billing_pb2.DESCRIPTOR.services_by_name["BillingService"].full_name
INGEST_SERVICE = webhook_ingest_pb2.DESCRIPTOR.services_by_name["WebhookIngestService"].full_name
SERVICES = (BILLING_SERVICE, INGEST_SERVICE)
# Reported NOT_SERVING while Stripe's circuit is open, without touching the
# overall status: a Stripe outage must not get every pod restarted.
STRIPE_HEALTH = "paymentsvc.stripe"


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path
    client_ca: Path | None = None

    def credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials(
            [(self.key.read_bytes(), self.cert.read_bytes())],
            root_certificates=self.client_ca.read_bytes() if self.client_ca else None,
            require_client_auth=self.client_ca is not None,
        )


@dataclass(frozen=True)
class RunningServer:
    server: grpc.Server
    port: int
    health: health.HealthServicer

    draining: threading.Event = field(default_factory=threading.Event)

    def set_serving(self, serving: bool) -> None:
        """Everything, the overall status ("", liveness) included: start and stop."""
        status = _status(serving)
        for service in ("", *SERVICES):
            self.health.set(service, status)

    def drain(self) -> None:
        """NOT_SERVING for good: later readiness reports change nothing."""
        self.draining.set()
        self.set_serving(False)

    def set_ready(self, ready: bool) -> None:
        """Our services only (readiness): the process itself is still alive,
        and restarting it would not bring the database back."""
        if self.draining.is_set():
            return
        status = _status(ready)
        for service in SERVICES:
            self.health.set(service, status)

    def set_stripe_available(self, available: bool) -> None:
        self.health.set(STRIPE_HEALTH, _status(available))


def create_server(
    deps: Dependencies,
    address: str,
    max_workers: int,
    pipeline: RequestPipeline,
    tls: TlsFiles | None = None,
    watchers: Watchers | None = None,
    *,
    ready: bool = True,
) -> RunningServer:
    """Binds `address` (port 0 picks a free port) and starts serving; the
    services report NOT_SERVING until `set_ready(True)` unless `ready`."""
    watchers = watchers or Watchers(ChangeFeed(), limit=8)
    server = grpc.server(
        # Each watch stream holds a thread of its own, on top of the unary pool.
        futures.ThreadPoolExecutor(
            max_workers=max_workers + watchers.limit, thread_name_prefix="grpc"
        ),
        interceptors=[pipeline],
        options=[("grpc.max_receive_message_length", 1 << 20)],
    )
    billing_pb2_grpc.add_BillingServiceServicer_to_server(BillingServicer(deps, watchers), server)
    webhook_ingest_pb2_grpc.add_WebhookIngestServiceServicer_to_server(
        WebhookIngestServicer(deps), server
    )
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*SERVICES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    if tls is None:
        port = server.add_insecure_port(address)
    else:
        port = server.add_secure_port(address, tls.credentials())
    server.start()
    running = RunningServer(server, port, health_servicer)
    running.set_serving(True)
    running.set_ready(ready)
    running.set_stripe_available(True)
    return running


def _status(serving: bool) -> int:
    if serving:
        return health_pb2.HealthCheckResponse.SERVING
    return health_pb2.HealthCheckResponse.NOT_SERVING
