"""`billing-probe`: does the local billing server answer SERVING?

For container health checks. It imports grpc and the health stubs and
nothing else of the service: the configuration, SQLAlchemy and Alembic
take seconds to import on a loaded machine, and a probe that slow times
out exactly when the server is busiest. So it reads the two variables it
needs itself.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

# The server's own default (billing_server.config; a test keeps them equal).
DEFAULT_ADDRESS = "127.0.0.1:50051"
DEFAULT_TIMEOUT_S = 5.0
_WILDCARDS = {"", "0.0.0.0", "[::]", "::"}


def local_target(address: str) -> str:
    """The address to dial for a server bound to `address` on this host."""
    host, _, port = address.rpartition(":")
    return f"127.0.0.1:{port}" if host in _WILDCARDS else address


def check(
    target: str, *, service: str = "", timeout_s: float = DEFAULT_TIMEOUT_S, tls_cert: bytes | None
) -> tuple[bool, str]:
    """(serving, what the server said or why it could not say it)."""
    if tls_cert is not None:
        # The probe runs next to the server: trust the server's own certificate.
        channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(tls_cert))
    else:
        channel = grpc.insecure_channel(target)
    with channel:
        stub: Any = health_pb2_grpc.HealthStub(channel)  # the stubs' types omit Check
        try:
            answer = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout_s)
        except grpc.RpcError as error:
            return False, f"{error.code().name}: {error.details()}"
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
    return answer.status == health_pb2.HealthCheckResponse.SERVING, status


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="billing-probe",
        description="Exit 0 when the local billing server answers SERVING on grpc.health.v1; "
        "otherwise print the status or the error and exit 1.",
    )
    parser.add_argument(
        "--target",
        default=local_target(os.environ.get("PAYMENTSVC_GRPC_ADDRESS") or DEFAULT_ADDRESS),
        help="host:port (default: PAYMENTSVC_GRPC_ADDRESS, on loopback)",
    )
    parser.add_argument(
        "--service",
        default="",
        help="the health service to ask, e.g. billing.v1.BillingService for readiness "
        "(default: the overall status, liveness)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        help=f"seconds to wait for the answer (default {DEFAULT_TIMEOUT_S:g})",
    )
    args = parser.parse_args(argv)
    cert_file = os.environ.get("PAYMENTSVC_TLS_CERT_FILE")
    try:
        tls_cert = Path(cert_file).read_bytes() if cert_file else None
    except OSError as exc:
        print(f"billing-probe: PAYMENTSVC_TLS_CERT_FILE: {exc}", file=sys.stderr)
        return 1
    serving, said = check(
        args.target, service=args.service, timeout_s=args.timeout, tls_cert=tls_cert
    )
    where = f"{args.target} {args.service or '(overall)'}"
    print(f"billing-probe: {where}: {said}", file=sys.stdout if serving else sys.stderr)
    return 0 if serving else 1
