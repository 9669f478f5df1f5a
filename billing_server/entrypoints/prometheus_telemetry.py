"""The service's telemetry port, served by Prometheus and OpenTelemetry."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import trace

from billing_server.entrypoints.metrics import ServerMetrics
from paymentsvc_observability.tracing import context_from, outgoing_headers


class ServiceTelemetry:
    def __init__(self, metrics: ServerMetrics, tracing: bool) -> None:
        self._metrics = metrics
        self._tracer = trace.get_tracer("billing_server") if tracing else None

    @contextmanager
    def span(
        self, name: str, attributes: Mapping[str, str], parent: str | None = None
    ) -> Iterator[None]:
        if self._tracer is None:
            yield
            return
        context = context_from([("traceparent", parent)]) if parent else None
        with self._tracer.start_as_current_span(name, context=context, attributes=dict(attributes)):
            yield

    def trace_context(self) -> str | None:
        if self._tracer is None:
            return None
        return dict(outgoing_headers()).get("traceparent")

    def stripe_call(self, operation: str, outcome: str, seconds: float) -> None:
        self._metrics.stripe_requests.labels(operation, outcome).inc()
        self._metrics.stripe_latency.labels(operation).observe(seconds)

    def delivery_received(self, outcome: str) -> None:
        self._metrics.webhook_deliveries.labels(outcome).inc()

    def event_processed(self, event_type: str, outcome: str) -> None:
        self._metrics.webhook_events.labels(event_type, outcome).inc()

    def event_rejected(self, reason: str) -> None:
        self._metrics.webhook_rejections.labels(reason).inc()

    def event_applied_after(self, seconds: float) -> None:
        self._metrics.webhook_apply_lag.observe(max(seconds, 0.0))

    def idempotent_replay(self, action: str) -> None:
        self._metrics.idempotent_replays.labels(action).inc()

    def payment_failed(self) -> None:
        self._metrics.payment_failures.inc()

    def subscription_canceled(self, plan: str) -> None:
        self._metrics.cancellations.labels(plan or "unknown").inc()

    def reconciled(self, missing: int, different: int) -> None:
        self._metrics.reconcile_drift.labels("missing").set(missing)
        self._metrics.reconcile_drift.labels("different").set(different)
        self._metrics.reconcile_last_success.set_to_current_time()

    def entitlement_answered(self, source: str) -> None:
        self._metrics.entitlement_answer(source).inc()
