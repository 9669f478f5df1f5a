"""Channel construction: credentials and the retry policy in the service config."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import grpc

SERVICE = "billing.v1.BillingService"

ChannelOptions = Sequence[tuple[str, Any]]
RETRYABLE_CODES = ["UNAVAILABLE", "ABORTED", "CANCELLED"]


@dataclass(frozen=True)
class TLS:
    """TLS settings: the server's root certificates (None: the system's) and,
    for mutual TLS, this service's certificate chain and private key (PEM)."""

    root_certificates: bytes | None = None
    certificate_chain: bytes | None = None
    private_key: bytes | None = None

    def __post_init__(self) -> None:
        if (self.certificate_chain is None) != (self.private_key is None):
            raise ValueError("mutual TLS needs both certificate_chain and private_key")

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.root_certificates,
            private_key=self.private_key,
            certificate_chain=self.certificate_chain,
        )


def service_config(max_attempts: int) -> str:
    # gRPC retries these transparently for every method, resending the same
    # request bytes; mutating requests carry an idempotency key that the
    # client fills in once per logical call, so a retry is the same request
    # to the server, and the others change nothing or nothing twice. The
    # call's deadline bounds all attempts together. UNAVAILABLE: the server
    # or what it needs is down, or it refused the call while shutting down.
    # ABORTED: another call holds the idempotency key (still in progress) or
    # the subscription changed meanwhile. CANCELLED: a server cut the call
    # off while shutting down.
    config = {
        "methodConfig": [
            {
                "name": [{"service": SERVICE}],
                "retryPolicy": {
                    "maxAttempts": max_attempts,
                    "initialBackoff": "0.05s",
                    "maxBackoff": "1s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": RETRYABLE_CODES,
                },
            }
        ]
    }
    return json.dumps(config)


def channel_options(max_attempts: int, extra: ChannelOptions = ()) -> list[tuple[str, Any]]:
    options: list[tuple[str, Any]] = [("grpc.primary_user_agent", "paymentsvc-client-python")]
    if max_attempts > 1:
        options += [
            ("grpc.enable_retries", 1),
            ("grpc.service_config", service_config(max_attempts)),
        ]
    return options + list(extra)


def check_transport(tls: TLS | None, insecure: bool) -> None:
    if insecure and tls is not None:
        raise ValueError("choose either tls=... or insecure=True, not both")


def sync_channel(
    target: str, tls: TLS | None, insecure: bool, options: list[tuple[str, Any]]
) -> grpc.Channel:
    check_transport(tls, insecure)
    if insecure:
        return grpc.insecure_channel(target, options=options)
    return grpc.secure_channel(target, (tls or TLS()).credentials(), options=options)


def aio_channel(
    target: str, tls: TLS | None, insecure: bool, options: list[tuple[str, Any]]
) -> grpc.aio.Channel:
    check_transport(tls, insecure)
    if insecure:
        return grpc.aio.insecure_channel(target, options=options)
    return grpc.aio.secure_channel(target, (tls or TLS()).credentials(), options=options)
