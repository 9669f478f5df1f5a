"""`billing-server`: runs the gRPC server until SIGTERM, then drains."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence

from billing_server import deadlines
from billing_server.bootstrap import Application, bootstrap, token_verifier
from billing_server.circuit_breaker import BreakerState
from billing_server.config import ConfigError, Settings
from billing_server.domain.errors import BillingError
from billing_server.domain.rate_limits import Limit, RateLimiter, parse_limits
from billing_server.entrypoints.auth import Authenticator
from billing_server.entrypoints.database_watch import DatabaseProbe
from billing_server.entrypoints.event_applier import EventApplier
from billing_server.entrypoints.grpc_server import RunningServer, TlsFiles, create_server
from billing_server.entrypoints.maintenance import Maintenance
from billing_server.entrypoints.metrics import ServerMetrics
from billing_server.entrypoints.pipeline import RequestPipeline
from billing_server.entrypoints.prometheus_telemetry import ServiceTelemetry
from billing_server.entrypoints.readiness import Readiness
from billing_server.entrypoints.stop_signals import StopSignals
from billing_server.entrypoints.supervisor import WORKER_ENV, supervise
from billing_server.entrypoints.watch_servicer import Watchers
from billing_server.production_checks import configuration_problems
from billing_server.service_layer.idempotency import release_held_claims
from paymentsvc_observability.error_tracking import configure_error_tracking
from paymentsvc_observability.logs import configure_logging, stop_logging
from paymentsvc_observability.tracing import configure_tracing, shutdown_tracing

log = logging.getLogger("billing_server")


def serve_main(argv: Sequence[str] | None = None) -> int:
    argparse.ArgumentParser(
        prog="billing-server", description="Runs the billing gRPC server (configured by env)."
    ).parse_args(argv)
    try:
        settings = Settings.from_env()
        configure_logging(settings.log_level, as_json=settings.log_json)
        configure_error_tracking("billing-server")
        if settings.is_production and (problems := configuration_problems(settings)):
            raise ConfigError("refusing to start in production:\n  - " + "\n  - ".join(problems))
    except ConfigError as exc:
        print(f"billing-server: {exc}", file=sys.stderr)
        return 2
    if settings.grpc_processes > 1:
        return supervise(settings, settings.grpc_processes)

    metrics = ServerMetrics.create()
    try:
        tracing = configure_tracing("billing-server")
        app = bootstrap(settings, telemetry=ServiceTelemetry(metrics, tracing))
    except (ConfigError, BillingError) as exc:  # a bad plans file is a ConfigError
        print(f"billing-server: {exc}", file=sys.stderr)
        return 2

    # Both ports are bound before anything starts, so that a taken one ends
    # the process with one line naming the variable that moves it.
    try:
        metrics_port = metrics.serve(settings.metrics_address) if settings.metrics_address else 0
    except OSError as exc:
        app.close()
        print(
            f"billing-server: cannot serve metrics on {settings.metrics_address}: {exc.strerror}"
            " (move it with PAYMENTSVC_METRICS_ADDRESS; empty turns it off)",
            file=sys.stderr,
        )
        return 2
    worker = os.environ.get(WORKER_ENV)
    if worker is not None:
        # One of several processes: the supervisor serves the metrics.
        metrics.publish_process_gauges(
            app.database.pool_connections, lambda: app.inbox_writer.waiting
        )
    else:
        metrics.watch_database(app.gauge_readings(), settings.metrics_db_cache_s)
        metrics.watch_intake(lambda: app.inbox_writer.waiting)
    app.change_listener.start()
    joining = worker not in (None, "0")
    if joining:
        # One of several processes on the port, and another one is already
        # answering: take connections only once the view is whole.
        app.view_keeper.start()
        app.view_keeper.loaded.wait()
    # From here a SIGTERM drains, even one that comes while the server starts.
    signals = StopSignals()
    try:
        running = create_server(
            app.deps,
            settings.grpc_address,
            settings.grpc_max_workers,
            pipeline(settings, metrics, tracing=tracing),
            tls=_tls(settings),
            watchers=Watchers(
                app.changes, settings.max_watchers, per_caller=settings.max_watchers_per_caller
            ),
            ready=False,
        )
    except RuntimeError as exc:
        if "Failed to bind" not in str(exc):
            raise
        app.close()
        print(
            f"billing-server: cannot listen on {settings.grpc_address}: the port is taken"
            " or the address is not this host's (move it with PAYMENTSVC_GRPC_ADDRESS)",
            file=sys.stderr,
        )
        return 2
    # Ready once the entitlement view holds every account (CheckPlan reads
    # the database until then), and while the database answers.
    readiness = Readiness(running.set_ready, view=joining, database=True)
    if not joining:
        app.view_keeper.on_loaded = lambda: readiness.set("view", True)
        app.view_keeper.start()
    _report_stripe_health(app, running, metrics)
    applier = EventApplier(app.deps, app.events_due, settings.applier_threads)
    applier.start()
    maintenance = Maintenance(app.deps, app.database.run_alone, settings.maintenance_interval_s)
    if settings.maintenance_interval_s > 0:
        maintenance.start()

    def database_reachable(reachable: bool) -> None:
        app.database.reachability.set(reachable)
        readiness.set("database", reachable)

    probe = DatabaseProbe(app.database.ping, database_reachable, settings.health_probe_interval_s)
    probe.start()
    if settings.metrics_address:
        log.info(
            "metrics on http://%s:%d/metrics",
            settings.metrics_address.rsplit(":", 1)[0],
            metrics_port,
        )
    if not settings.jwt_keys:
        log.warning("JWT_SECRET_KEY is not set: authentication is OFF (development only)")
    host = settings.grpc_address.rsplit(":", 1)[0]
    log.info(
        "billing-server listening on %s:%d (Stripe: %s)",
        host,
        running.port,
        settings.stripe_api_base or "api.stripe.com",
    )
    print(f"billing-server listening on {host}:{running.port}", flush=True)

    signum = signals.wait()
    log.info("received signal %d: draining", signum)
    _drain(app, running, probe, maintenance, settings)
    # Events stored but not applied yet stay in the inbox for the next start
    # (or another replica): the applier only finishes what it holds.
    applier.stop(settings.shutdown_grace_s)
    app.close()
    shutdown_tracing()
    log.info("billing-server stopped")
    stop_logging()
    # A call that outlived the grace period anyway (stuck where no deadline
    # reaches) was cancelled, and its worker thread may still sit there; the
    # interpreter would wait for it at exit. The drain is over: end now.
    os._exit(0)


def _drain(
    app: Application,
    running: RunningServer,
    probe: DatabaseProbe,
    maintenance: Maintenance,
    settings: Settings,
) -> None:
    """Stops taking calls without failing any that reached the server."""
    # NOT_SERVING first, while calls are still accepted: load balancers and
    # Kubernetes endpoints need a few seconds to stop sending here, and a
    # call they send meanwhile must be served, not refused.
    # Every call's deadline ends a little before the grace does, so that each
    # is answered (UNAVAILABLE at worst, which clients retry) rather than
    # cancelled; Stripe attempts already waiting are bounded the same way
    # (Settings.stripe_attempt_timeout_s).
    grace_s = settings.shutdown_grace_s
    deadlines.drain_until(
        time.monotonic() + settings.shutdown_delay_s + grace_s - settings.drain_margin_s
    )
    running.drain()
    probe.stop()
    maintenance.stop()
    time.sleep(settings.shutdown_delay_s)
    # Then new calls are refused and calls in flight get the grace period.
    app.changes.close()  # ends the watch streams, which would hold the drain
    running.server.stop(grace_s).wait()
    # A call cut off still holds its idempotency key: a retry on another
    # replica need not wait for the claim to lapse.
    if released := release_held_claims(app.deps):
        log.warning("released %d idempotency claims of calls cut off by the shutdown", released)


def pipeline(
    settings: Settings, metrics: ServerMetrics | None, *, tracing: bool = False
) -> RequestPipeline:
    verifier = token_verifier(settings)
    default, per_method = parse_limits(settings.rate_limits)
    limiter = RateLimiter(default or Limit(200, 400), per_method)
    return RequestPipeline(
        Authenticator(verifier),
        limiter,
        metrics,
        settings.max_deadline_s,
        tracing=tracing,
        access_log_enabled=settings.access_log,
        access_log_sample=settings.access_log_sample,
    )


def _tls(settings: Settings) -> TlsFiles | None:
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return None
    return TlsFiles(settings.tls_cert_file, settings.tls_key_file, settings.tls_client_ca_file)


def _report_stripe_health(app: Application, running: RunningServer, metrics: ServerMetrics) -> None:
    breaker = app.stripe_breaker
    if breaker is None:
        return
    metrics.breaker_changed(breaker.state)

    def changed(state: BreakerState) -> None:
        log.warning("Stripe circuit breaker %s", state.value)
        running.set_stripe_available(state is not BreakerState.OPEN)
        metrics.breaker_changed(state)

    breaker.on_change(changed)


if __name__ == "__main__":
    sys.exit(serve_main())
