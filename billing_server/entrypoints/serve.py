"""`billing-server`: runs the gRPC server until SIGTERM."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from billing_server.adapters.catalog_file import CatalogError
from billing_server.bootstrap import bootstrap
from billing_server.config import ConfigError, Settings
from billing_server.domain.errors import BillingError
from billing_server.entrypoints.grpc_server import create_server
from billing_server.entrypoints.metrics import ServerMetrics

log = logging.getLogger("billing_server")

SHUTDOWN_GRACE_S = 10.0


def serve_main(argv: Sequence[str] | None = None) -> int:
    argparse.ArgumentParser(
        prog="billing-server", description="Runs the billing gRPC server (configured by env)."
    ).parse_args(argv)
    try:
        settings = Settings.from_env()
        configure_logging(settings.log_level)
        app = bootstrap(settings)
    except (ConfigError, CatalogError, BillingError) as exc:
        print(f"billing-server: {exc}", file=sys.stderr)
        return 2

    metrics = ServerMetrics.create()
    running = create_server(
        app.deps, settings.grpc_address, settings.grpc_max_workers, metrics=metrics
    )
    if settings.metrics_address:
        metrics_port = metrics.serve(settings.metrics_address)
        log.info(
            "metrics on http://%s:%d/metrics",
            settings.metrics_address.rsplit(":", 1)[0],
            metrics_port,
        )
    host = settings.grpc_address.rsplit(":", 1)[0]
    stripe_target = settings.stripe_api_base or "api.stripe.com"
    log.info("billing-server listening on %s:%d (Stripe: %s)", host, running.port, stripe_target)
    print(f"billing-server listening on {host}:{running.port}", flush=True)

    stopping = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("received signal %d: draining", signum)
        stopping.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    stopping.wait()
    running.set_serving(False)
    running.server.stop(SHUTDOWN_GRACE_S).wait()
    app.close()
    log.info("billing-server stopped")
    return 0


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
