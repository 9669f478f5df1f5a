"""Prometheus metrics of the billing server, on an HTTP port of their own.

Label values are bounded: methods, status codes, Stripe operations and
reasons, event types and outcomes, plan names and statuses. Never an
account, customer, event or request id.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import grpc
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    multiprocess,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from billing_server.bootstrap import GaugeReadings, gauge_readings
from billing_server.circuit_breaker import BreakerState
from billing_server.config import Settings
from billing_server.domain.errors import BillingError
from billing_server.domain.stored_events import Backlog

T = TypeVar("T")
SubscriptionCounts = Callable[[], list[tuple[str, str, int]]]
PoolConnections = Callable[[], dict[str, int]]

# Sub-millisecond buckets: CheckPlan must be resolvable well below 1 ms.
LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
)  # fmt: skip
STRIPE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Stored -> applied: milliseconds normally, hours for events that waited.
LAG_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0,
    3600.0, 21600.0, 86400.0,
)  # fmt: skip
BREAKER_VALUES = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


@dataclass(frozen=True)
class ServerMetrics:
    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    rate_limited: Counter
    stripe_requests: Counter
    stripe_latency: Histogram
    stripe_circuit: Gauge
    webhook_deliveries: Counter
    webhook_events: Counter
    webhook_rejections: Counter
    webhook_apply_lag: Histogram
    idempotent_replays: Counter
    payment_failures: Counter
    cancellations: Counter
    reconcile_drift: Gauge
    reconcile_last_success: Gauge
    entitlement_answers: Counter
    _latency_children: dict[tuple[str, str], Any] = field(default_factory=dict)
    _counter_children: dict[tuple[str, str, grpc.StatusCode], Any] = field(default_factory=dict)
    _answer_children: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(cls) -> ServerMetrics:
        r = CollectorRegistry()
        return cls(
            registry=r,
            requests=Counter(
                "paymentsvc_grpc_server_handled",
                "RPCs completed on the server, by method and status code.",
                ["grpc_service", "grpc_method", "grpc_code"],
                registry=r,
            ),
            latency=Histogram(
                "paymentsvc_grpc_server_handling_seconds",
                "Time to handle an RPC on the server.",
                ["grpc_service", "grpc_method"],
                buckets=LATENCY_BUCKETS,
                registry=r,
            ),
            rate_limited=Counter(
                "paymentsvc_rate_limited",
                "Calls refused by the rate limit (per replica), by method.",
                ["grpc_method"],
                registry=r,
            ),
            stripe_requests=Counter(
                "paymentsvc_stripe_requests",
                "Requests to Stripe by operation and outcome (ok, or the error's reason).",
                ["operation", "outcome"],
                registry=r,
            ),
            stripe_latency=Histogram(
                "paymentsvc_stripe_request_duration_seconds",
                "Time of a Stripe request, retries included.",
                ["operation"],
                buckets=STRIPE_BUCKETS,
                registry=r,
            ),
            stripe_circuit=Gauge(
                "paymentsvc_stripe_circuit_state",
                "Stripe circuit breaker: 0 closed, 1 half-open, 2 open.",
                registry=r,
                multiprocess_mode="livemax",
            ),
            webhook_deliveries=Counter(
                "paymentsvc_webhook_deliveries",
                "Webhook deliveries taken in, by outcome (stored, duplicate, ignored).",
                ["outcome"],
                registry=r,
            ),
            webhook_events=Counter(
                "paymentsvc_webhook_events",
                "Stored Stripe events handled by the applier, by type and outcome (applied, "
                "superseded, stale, ignored, deferred, rejected, failed).",
                ["event_type", "outcome"],
                registry=r,
            ),
            webhook_rejections=Counter(
                "paymentsvc_webhook_events_rejected",
                "Events refused for good (Stripe is not asked to resend them), by reason.",
                ["reason"],
                registry=r,
            ),
            webhook_apply_lag=Histogram(
                "paymentsvc_webhook_apply_lag_seconds",
                "Time from storing an event to finishing it (applied or rejected).",
                buckets=LAG_BUCKETS,
                registry=r,
            ),
            idempotent_replays=Counter(
                "paymentsvc_idempotent_replays",
                "Mutating calls answered from an idempotency record, by method.",
                ["grpc_method"],
                registry=r,
            ),
            payment_failures=Counter(
                "paymentsvc_payment_failures",
                "Failed subscription payments reported by Stripe.",
                registry=r,
            ),
            cancellations=Counter(
                "paymentsvc_subscription_cancellations",
                "Subscriptions that became canceled (churn), by plan.",
                ["plan"],
                registry=r,
            ),
            reconcile_drift=Gauge(
                "paymentsvc_reconcile_drift_subscriptions",
                "Subscriptions found differing from Stripe by the last reconciliation, by kind "
                "(missing here, different), before it repaired them.",
                ["kind"],
                registry=r,
                multiprocess_mode="mostrecent",
            ),
            reconcile_last_success=Gauge(
                "paymentsvc_reconcile_last_success_timestamp_seconds",
                "When a scheduled reconciliation last completed (Unix time).",
                registry=r,
                multiprocess_mode="max",
            ),
            entitlement_answers=Counter(
                "paymentsvc_entitlement_answers",
                "CheckPlan and GetEntitlements answers by source: view, database (read "
                "through), or stale (from the view while out of touch with the database).",
                ["source"],
                registry=r,
            ),
        )

    def observe(self, service: str, method: str, code: grpc.StatusCode, seconds: float) -> None:
        # Label lookups take a lock and hash every time: keep the children.
        key = (service, method)
        latency = self._latency_children.get(key)
        if latency is None:
            latency = self._latency_children[key] = self.latency.labels(service, method)
        latency.observe(seconds)
        counter_key = (service, method, code)
        counter = self._counter_children.get(counter_key)
        if counter is None:
            counter = self._counter_children[counter_key] = self.requests.labels(
                service, method, code.name
            )
        counter.inc()

    def entitlement_answer(self, source: str) -> Any:
        child = self._answer_children.get(source)
        if child is None:
            child = self._answer_children[source] = self.entitlement_answers.labels(source)
        return child

    def breaker_changed(self, state: BreakerState) -> None:
        self.stripe_circuit.set(BREAKER_VALUES[state])

    def watch_database(self, readings: GaugeReadings, cache_s: float = 15.0) -> None:
        """Adds the pool, subscription and webhook backlog gauges, read at scrape time."""
        self.registry.register(_PoolCollector(readings.pool_connections))
        self.registry.register(_SubscriptionCollector(readings.subscription_counts, cache_s))
        self.watch_backlog(readings.backlog, cache_s)

    def watch_backlog(self, read: Callable[[], Backlog], cache_s: float = 5.0) -> None:
        """Adds the webhook inbox's backlog gauges, read at scrape time."""
        self.registry.register(_BacklogCollector(read, cache_s))

    def watch_intake(self, waiting: Callable[[], int]) -> None:
        gauge = Gauge(
            "paymentsvc_webhook_intake_waiting",
            "Deliveries waiting for the transaction that stores them (group commit).",
            registry=self.registry,
        )
        gauge.set_function(lambda: float(waiting()))

    def publish_process_gauges(
        self, pool_connections: PoolConnections, waiting: Callable[[], int], interval_s: float = 1.0
    ) -> None:
        """For a process of several on one port (multiprocess mode): the pool
        and intake gauges, written every `interval_s` for the supervisor to
        sum, since values computed at scrape time cannot cross processes."""
        pool_gauge = Gauge(
            "paymentsvc_db_pool_connections",
            "Database connections of this replica's pool, by state.",
            ["state"],
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        intake = Gauge(
            "paymentsvc_webhook_intake_waiting",
            "Deliveries waiting for the transaction that stores them (group commit).",
            registry=self.registry,
            multiprocess_mode="livesum",
        )

        def publish() -> None:
            while True:
                for state, count in pool_connections().items():
                    pool_gauge.labels(state).set(count)
                intake.set(waiting())
                time.sleep(interval_s)

        threading.Thread(target=publish, name="metrics-publisher", daemon=True).start()

    def serve(self, address: str) -> int:
        """Serves /metrics on `address` (host:port, port 0 picks one); returns the port."""
        host, port = address.rsplit(":", 1)
        server, _thread = start_http_server(int(port), host, registry=self.registry)
        return int(server.server_port)


def serve_multiprocess(settings: Settings, metrics_dir: Path) -> Any:
    """/metrics for every server process of this host (see supervisor.py):
    their counters, histograms and gauges summed by prometheus_client, and
    the gauges read from the database, once."""
    readings = gauge_readings(settings)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(metrics_dir))  # type: ignore[no-untyped-call]
    registry.register(
        _SubscriptionCollector(readings.subscription_counts, settings.metrics_db_cache_s)
    )
    registry.register(_BacklogCollector(readings.backlog, settings.metrics_db_cache_s))
    assert settings.metrics_address
    host, port = settings.metrics_address.rsplit(":", 1)
    server, _thread = start_http_server(int(port), host, registry=registry)
    return server


class _PoolCollector(Collector):
    def __init__(self, read: PoolConnections) -> None:
        self._read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        connections = self._read()
        if not connections:
            return
        family = GaugeMetricFamily(
            "paymentsvc_db_pool_connections",
            "Database connections of this replica's pool, by state.",
            labels=["state"],
        )
        for state, count in connections.items():
            family.add_metric([state], count)
        yield family


class _Cached(Generic[T]):
    """A reading reused for `cache_s`, so that frequent scrapes cost the
    database little. When a read fails, the last one stands: the health
    status tells the outage."""

    def __init__(
        self, read: Callable[[], T], cache_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._read = read
        self._cache_s = cache_s
        self._clock = clock
        self._lock = threading.Lock()
        self._value: T | None = None
        self._taken_at = float("-inf")

    def get(self) -> T | None:
        with self._lock:
            if self._clock() - self._taken_at >= self._cache_s:
                try:
                    self._value = self._read()
                    self._taken_at = self._clock()
                except BillingError:
                    pass
            return self._value


class _SubscriptionCollector(Collector):
    """Subscriptions by plan and status, from one grouped query."""

    def __init__(self, read: SubscriptionCounts, cache_s: float) -> None:
        self._counts = _Cached(read, cache_s)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "paymentsvc_subscriptions",
            "Subscriptions by plan and status, counted at scrape time (reused for "
            "PAYMENTSVC_METRICS_DB_CACHE seconds).",
            labels=["plan", "status"],
        )
        for plan, status, count in self._counts.get() or []:
            family.add_metric([plan or "unknown", status], count)
        yield family


class _BacklogCollector(Collector):
    """Pending webhook events, the age of the oldest, and long-deferred ones."""

    def __init__(self, read: Callable[[], Backlog], cache_s: float) -> None:
        self._backlog = _Cached(read, cache_s)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        backlog = self._backlog.get()
        pending = GaugeMetricFamily(
            "paymentsvc_webhook_events_pending",
            "Stored events not applied yet, by status (received, failed, deferred).",
            labels=["status"],
        )
        oldest = GaugeMetricFamily(
            "paymentsvc_webhook_oldest_pending_age_seconds",
            "Age of the oldest stored event not applied yet (0 when none is).",
        )
        overdue = GaugeMetricFamily(
            "paymentsvc_webhook_events_deferred_overdue",
            "Events deferred for longer than a day: no account found for their customer.",
        )
        if backlog is not None:
            for status, count in sorted(backlog.pending.items()):
                pending.add_metric([status], count)
            first = backlog.oldest_received_at
            oldest.add_metric([], max(0.0, time.time() - first.timestamp()) if first else 0.0)
            overdue.add_metric([], backlog.overdue)
        yield pending
        yield oldest
        yield overdue
