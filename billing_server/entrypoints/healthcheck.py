"""Asking a running billing server whether it is SERVING (for container probes)."""

from __future__ import annotations

from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from billing_server.config import Settings


def server_is_serving(target: str, settings: Settings, timeout_s: float = 3.0) -> bool:
    if settings.tls_cert_file is not None:
        # The probe runs next to the server: trust the server's own certificate.
        credentials = grpc.ssl_channel_credentials(settings.tls_cert_file.read_bytes())
        channel = grpc.secure_channel(target, credentials)
    else:
        channel = grpc.insecure_channel(target)
    with channel:
        stub: Any = health_pb2_grpc.HealthStub(channel)  # the stubs' types omit Check
        try:
            answer = stub.Check(health_pb2.HealthCheckRequest(), timeout=timeout_s)
        except grpc.RpcError:
            return False
    return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)
