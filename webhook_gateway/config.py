"""Gateway settings, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import grpc

# Stripe's own default: a signature older than five minutes is refused, which
# bounds how long a captured request can be replayed.
DEFAULT_TOLERANCE_S = 300


class GatewayConfigError(ValueError):
    """The environment does not describe a gateway that can start."""


@dataclass(frozen=True)
class GatewaySettings:
    host: str
    port: int
    workers: int
    # Requests in flight per worker beyond which uvicorn answers 503, which
    # Stripe retries: a flood cannot exhaust the gateway, and no verified
    # event is dropped silently.
    max_concurrency: int
    webhook_path: str
    # Several secrets are accepted while an endpoint's secret is rotated.
    webhook_secrets: tuple[str, ...]
    tolerance_s: int
    max_body_bytes: int
    billing_target: str
    # The gateway's service token (scope billing.ingest) for the server.
    billing_token: str | None
    # TLS to the billing server: its CA, and our certificate for mutual TLS.
    billing_tls_ca_file: str | None
    billing_tls_cert_file: str | None
    billing_tls_key_file: str | None
    forward_timeout_s: float
    log_level: str
    log_json: bool

    def channel_credentials(self) -> grpc.ChannelCredentials | None:
        """TLS credentials for the billing server, or None for plaintext."""
        if self.billing_tls_ca_file is None:
            return None
        return grpc.ssl_channel_credentials(
            root_certificates=Path(self.billing_tls_ca_file).read_bytes(),
            private_key=_read(self.billing_tls_key_file),
            certificate_chain=_read(self.billing_tls_cert_file),
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GatewaySettings:
        env = os.environ if env is None else env
        problems: list[str] = []

        def number(name: str, default: float, *, whole: bool = True) -> float:
            raw = env.get(name)
            if not raw:
                return default
            try:
                value = int(raw) if whole else float(raw)
            except ValueError:
                problems.append(f"{name} must be a {'whole ' if whole else ''}number, got {raw!r}")
                return default
            if value <= 0:
                problems.append(f"{name} must be positive, got {value}")
            return value

        secrets = tuple(
            s.strip() for s in env.get("STRIPE_WEBHOOK_SECRET", "").split(",") if s.strip()
        )
        if not secrets:
            problems.append("STRIPE_WEBHOOK_SECRET is required (comma-separate several to rotate)")
        path = env.get("PAYMENTSVC_WEBHOOK_PATH", "/stripe/webhook")
        if not path.startswith("/"):
            problems.append(f"PAYMENTSVC_WEBHOOK_PATH must start with '/', got {path!r}")
        settings = cls(
            host=env.get("PAYMENTSVC_GATEWAY_HOST", "127.0.0.1"),
            port=int(number("PAYMENTSVC_GATEWAY_PORT", 8080)),
            workers=int(number("PAYMENTSVC_GATEWAY_WORKERS", 1)),
            max_concurrency=int(number("PAYMENTSVC_GATEWAY_MAX_CONCURRENCY", 200)),
            webhook_path=path,
            webhook_secrets=secrets,
            tolerance_s=int(number("PAYMENTSVC_WEBHOOK_TOLERANCE", DEFAULT_TOLERANCE_S)),
            max_body_bytes=int(number("PAYMENTSVC_WEBHOOK_MAX_BODY_BYTES", 1 << 20)),
            billing_target=env.get("PAYMENTSVC_BILLING_TARGET", "127.0.0.1:50051"),
            billing_token=env.get("PAYMENTSVC_BILLING_TOKEN") or None,
            billing_tls_ca_file=env.get("PAYMENTSVC_BILLING_TLS_CA_FILE") or None,
            billing_tls_cert_file=env.get("PAYMENTSVC_BILLING_TLS_CERT_FILE") or None,
            billing_tls_key_file=env.get("PAYMENTSVC_BILLING_TLS_KEY_FILE") or None,
            forward_timeout_s=number("PAYMENTSVC_FORWARD_TIMEOUT", 10.0, whole=False),
            log_level=env.get("PAYMENTSVC_LOG_LEVEL", "INFO").upper(),
            log_json=env.get(
                "PAYMENTSVC_LOG_FORMAT",
                "json" if env.get("PAYMENTSVC_ENV") == "production" else "text",
            ).lower()
            == "json",
        )
        if (settings.billing_tls_cert_file is None) != (settings.billing_tls_key_file is None):
            problems.append(
                "PAYMENTSVC_BILLING_TLS_CERT_FILE and PAYMENTSVC_BILLING_TLS_KEY_FILE go together"
            )
        if problems:
            raise GatewayConfigError("invalid configuration:\n  - " + "\n  - ".join(problems))
        return settings


def _read(path: str | None) -> bytes | None:
    return Path(path).read_bytes() if path else None
