"""Console entry points: `billing-server` and `billing-admin`."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from billing_server.adapters import migrations
from billing_server.adapters.catalog_file import CatalogError, load_catalog
from billing_server.adapters.database import make_engine
from billing_server.adapters.stripe_catalog import StripeCatalog
from billing_server.bootstrap import bootstrap, stripe_client
from billing_server.config import ConfigError, Settings
from billing_server.domain.errors import BillingError
from billing_server.entrypoints.grpc_server import create_server
from billing_server.entrypoints.metrics import ServerMetrics
from billing_server.service_layer.catalog_sync import sync_catalog

log = logging.getLogger("billing_server")

SHUTDOWN_GRACE_S = 10.0


def serve_main(argv: Sequence[str] | None = None) -> int:
    argparse.ArgumentParser(
        prog="billing-server", description="Runs the billing gRPC server (configured by env)."
    ).parse_args(argv)
    try:
        settings = Settings.from_env()
        _configure_logging(settings.log_level)
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


def admin_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="billing-admin", description="Operates paymentsvc.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="upgrade the database schema to the latest revision")
    commands.add_parser("schema-status", help="print the schema revision; exit 1 if not at head")
    catalog = commands.add_parser("catalog", help="the plan catalogue in Stripe")
    catalog_commands = catalog.add_subparsers(dest="catalog_command", required=True)
    sync = catalog_commands.add_parser(
        "sync", help="create or update Stripe products and prices for every priced plan"
    )
    sync.add_argument("--dry-run", action="store_true", help="show what would change")
    args = parser.parse_args(argv)

    try:
        settings = Settings.from_env()
        _configure_logging(settings.log_level)
        if args.command == "migrate":
            return _migrate(settings)
        if args.command == "schema-status":
            return _schema_status(settings)
        return _catalog_sync(settings, dry_run=args.dry_run)
    except (ConfigError, CatalogError, BillingError) as exc:
        print(f"billing-admin: {exc}", file=sys.stderr)
        return 2


def _migrate(settings: Settings) -> int:
    engine = make_engine(settings.database_url, settings)
    try:
        before = migrations.current_revisions(engine)
        migrations.upgrade(engine)
        after = migrations.current_revisions(engine)
    finally:
        engine.dispose()
    if before == after:
        print(f"schema already at head ({', '.join(sorted(after))})")
    else:
        print(f"schema migrated to {', '.join(sorted(after))}")
    return 0


def _schema_status(settings: Settings) -> int:
    engine = make_engine(settings.database_url, settings)
    try:
        current = migrations.current_revisions(engine)
        heads = migrations.head_revisions(engine)
    finally:
        engine.dispose()
    print(f"current: {', '.join(sorted(current)) or 'none'}; head: {', '.join(sorted(heads))}")
    return 0 if current == heads else 1


def _catalog_sync(settings: Settings, *, dry_run: bool) -> int:
    catalog = load_catalog(settings.plans_file)
    changes = sync_catalog(catalog, StripeCatalog(stripe_client(settings)), dry_run=dry_run)
    for change in changes:
        print(f"{change.plan}: {change.action} ({change.detail})")
    pending = [c for c in changes if c.action != "unchanged"]
    if not pending:
        print("catalogue in sync: nothing to change")
    elif dry_run:
        print(f"dry run: {len(pending)} change(s) not applied")
    else:
        print(f"applied {len(pending)} change(s)")
    return 0


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
