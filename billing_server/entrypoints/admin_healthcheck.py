"""Asking a running billing server whether it is SERVING (`billing-admin healthcheck`)."""

from __future__ import annotations

from billing_server.config import Settings
from billing_server.entrypoints.probe import check, local_target


def server_status(settings: Settings, timeout_s: float = 3.0) -> tuple[bool, str]:
    """(serving, the status or the error) of the server these settings describe."""
    tls_cert = settings.tls_cert_file.read_bytes() if settings.tls_cert_file else None
    return check(local_target(settings.grpc_address), timeout_s=timeout_s, tls_cert=tls_cert)
