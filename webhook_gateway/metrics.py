"""The gateway's Prometheus metrics (per worker process)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram

FORWARD_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class GatewayMetrics:
    registry: CollectorRegistry
    requests: Counter
    signature_failures: Counter
    forward_latency: Histogram
    forward_failures: Counter

    @classmethod
    def create(cls) -> GatewayMetrics:
        r = CollectorRegistry()
        return cls(
            registry=r,
            requests=Counter(
                "paymentsvc_gateway_webhook_requests",
                "Webhook deliveries answered, by HTTP status code.",
                ["status_code"],
                registry=r,
            ),
            signature_failures=Counter(
                "paymentsvc_gateway_signature_failures",
                "Deliveries refused for a missing, wrong or expired signature.",
                registry=r,
            ),
            forward_latency=Histogram(
                "paymentsvc_gateway_forward_duration_seconds",
                "Time for the billing server to store a forwarded event durably.",
                buckets=FORWARD_BUCKETS,
                registry=r,
            ),
            forward_failures=Counter(
                "paymentsvc_gateway_forward_failures",
                "Forwards that did not end with the event stored, by kind "
                "(rejected: the server refused the payload; retry: Stripe must retry).",
                ["kind"],
                registry=r,
            ),
        )
