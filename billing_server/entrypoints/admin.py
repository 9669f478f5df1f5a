"""`billing-admin`: the operator's commands."""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta

from sqlalchemy.exc import DBAPIError

from billing_server.bootstrap import (
    bootstrap,
    migrate_schema,
    mint_token,
    plans,
    schema_revisions,
    stripe_catalog,
    webhook_endpoints,
)
from billing_server.config import ConfigError, Settings
from billing_server.domain.callers import Scope
from billing_server.domain.errors import BillingError
from billing_server.domain.rate_limits import Pacer
from billing_server.entrypoints import admin_events, admin_reports
from billing_server.entrypoints.admin_healthcheck import server_status
from billing_server.entrypoints.preflight import run_preflight
from billing_server.service_layer.catalog_sync import sync_catalog
from billing_server.service_layer.reconciliation import reconcile
from billing_server.service_layer.retention import clean_up
from billing_server.service_layer.webhook_endpoint_setup import set_up_webhook_endpoint
from paymentsvc_observability.logs import configure_logging

# Exit codes scripts can rely on.
OK, FAILED, MISCONFIGURED = 0, 1, 2

_DURATION = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def duration(text: str) -> timedelta:
    """Parses 90s, 15m, 72h or 30d."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 90s, 15m, 72h or 30d")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def admin_main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        # An operator reads what the command prints: the libraries' INFO lines
        # (each Stripe request, each Alembic step) only with -v.
        level = settings.log_level if args.verbose else "WARNING"
        configure_logging(level, as_json=settings.log_json)
        command: Callable[[Settings, argparse.Namespace], int] = args.run
        return command(settings, args)
    # A bad plans file or a migration Alembic refuses is a ConfigError too.
    except ConfigError as exc:
        print(f"billing-admin: {exc}", file=sys.stderr)
        return MISCONFIGURED
    except BillingError as exc:
        print(f"billing-admin: {exc}", file=sys.stderr)
        return FAILED
    except DBAPIError as exc:
        # The driver's first line says what went wrong; the rest is the SQL.
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        print(f"billing-admin: database: {reason}", file=sys.stderr)
        return FAILED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="billing-admin", description="Operates paymentsvc.")
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also show the libraries' log lines (each Stripe request, each migration step)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    migrate = commands.add_parser(
        "migrate", help="upgrade the database schema (to the latest revision by default)"
    )
    migrate.add_argument(
        "--revision",
        default="head",
        help="migrate to this revision instead, upgrading or downgrading (for a rollback)",
    )
    migrate.set_defaults(run=_migrate)
    commands.add_parser(
        "schema-status", help="print the schema revision; exit 1 when it is behind"
    ).set_defaults(run=_schema_status)

    catalog = commands.add_parser("catalog", help="the plan catalogue in Stripe")
    catalog_commands = catalog.add_subparsers(dest="catalog_command", required=True)
    sync = catalog_commands.add_parser(
        "sync", help="create or update Stripe products and prices for every priced plan"
    )
    sync.add_argument("--dry-run", action="store_true", help="show what would change")
    sync.set_defaults(run=_catalog_sync)

    admin_events.add_commands(commands, duration)
    admin_reports.add_commands(commands, duration)

    preflight = commands.add_parser(
        "preflight",
        help="check configuration, database, Stripe, prices and the webhook endpoint",
    )
    preflight.add_argument("--webhook-url", help="the endpoint URL that must be registered")
    preflight.set_defaults(run=_preflight)

    webhook = commands.add_parser("webhook", help="the Stripe webhook endpoint")
    webhook_commands = webhook.add_subparsers(dest="webhook_command", required=True)
    setup = webhook_commands.add_parser(
        "setup", help="register (or update) the endpoint for the six events the service handles"
    )
    setup.add_argument("--url", required=True, help="public URL of the gateway's webhook path")
    setup.set_defaults(run=_webhook_setup)

    commands.add_parser(
        "healthcheck", help="exit 0 when the local billing server answers SERVING"
    ).set_defaults(run=_healthcheck)

    issue = commands.add_parser(
        "issue-token", help="mint a service token (JWT signed with the first JWT_SECRET_KEY)"
    )
    issue.add_argument("--service", required=True, help="the calling service's name (sub)")
    issue.add_argument(
        "--scope",
        required=True,
        help="comma-separated: read (CheckPlan, GetSubscription, ListPlans), write (checkout, "
        "change, cancel, portal, confirm), ingest (the webhook gateway only)",
    )
    issue.add_argument("--ttl", type=duration, default=timedelta(days=30), help="e.g. 30d")
    issue.set_defaults(run=_issue_token)

    reconcile_command = commands.add_parser(
        "reconcile", help="compare every Stripe subscription with the database; --fix repairs"
    )
    reconcile_command.add_argument(
        "--fix", action="store_true", help="repair drift the way webhooks apply changes"
    )
    reconcile_command.add_argument(
        "--rps", type=float, default=None, help="Stripe requests per second (default from env)"
    )
    reconcile_command.set_defaults(run=_reconcile)

    commands.add_parser(
        "cleanup",
        help="delete processed events and idempotency records past their retention",
    ).set_defaults(run=_cleanup)
    return parser


def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    before, after = migrate_schema(settings, args.revision)
    reached = ", ".join(sorted(after)) or "base (empty)"
    if before == after:
        print(f"schema already at {args.revision} ({reached})")
    else:
        print(f"schema migrated to {reached}")
    return OK


def _schema_status(settings: Settings, args: argparse.Namespace) -> int:
    current, heads = schema_revisions(settings)
    print(f"current: {', '.join(sorted(current)) or 'none'}; head: {', '.join(sorted(heads))}")
    return OK if current == heads else FAILED


def _catalog_sync(settings: Settings, args: argparse.Namespace) -> int:
    catalog = plans(settings)
    changes = sync_catalog(
        catalog,
        stripe_catalog(settings),
        dry_run=args.dry_run,
    )
    for change in changes:
        print(f"{change.plan}: {change.action} ({change.detail})")
    pending = [c for c in changes if c.action != "unchanged"]
    if not pending:
        print("catalogue in sync: nothing to change")
    elif args.dry_run:
        print(f"dry run: {len(pending)} change(s) not applied")
    else:
        print(f"applied {len(pending)} change(s)")
    return OK


def _preflight(settings: Settings, args: argparse.Namespace) -> int:
    results = run_preflight(settings, args.webhook_url)
    for result in results:
        mark = "PASS" if result.passed else "FAIL"
        print(f"[{mark}] {result.name}" + (f": {result.detail}" if result.detail else ""))
    failed = sum(not r.passed for r in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    return FAILED if failed else OK


def _webhook_setup(settings: Settings, args: argparse.Namespace) -> int:
    setup = set_up_webhook_endpoint(webhook_endpoints(settings), args.url)
    endpoint, version = setup.endpoint, setup.api_version
    if setup.action == "created":
        print(f"created webhook endpoint {endpoint.id} for {args.url} (API {version})")
        # Shown once: Stripe never returns it again.
        print(f"signing secret (store it as STRIPE_WEBHOOK_SECRET): {endpoint.secret}")
        return OK
    if setup.action == "unchanged":
        print(f"webhook endpoint {endpoint.id} already receives the six events")
    else:
        print(f"updated webhook endpoint {endpoint.id}: now exactly the six events, enabled")
        print("its signing secret is unchanged (see the Stripe dashboard)")
    if not setup.version_pinned:
        rendered = endpoint.api_version or "the account default"
        print(
            f"its events are rendered in API version {rendered}, not {version}:"
            " each costs the service a Stripe fetch. Create an endpoint"
            " at a new URL with this command, add its secret to STRIPE_WEBHOOK_SECRET, then"
            " delete this one in the dashboard"
        )
        return FAILED
    if setup.action == "unchanged":
        print("nothing to do")
    return OK


def _healthcheck(settings: Settings, args: argparse.Namespace) -> int:
    serving, said = server_status(settings)
    if not serving:
        print(f"billing-admin: billing server at {settings.grpc_address}: {said}", file=sys.stderr)
    return OK if serving else FAILED


_SCOPE_NAMES = {"read": Scope.READ, "write": Scope.WRITE, "ingest": Scope.INGEST}


def _issue_token(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.jwt_keys:
        raise ConfigError("JWT_SECRET_KEY is not set: there is no key to sign with")
    names = [n.strip() for n in args.scope.split(",") if n.strip()]
    unknown = [n for n in names if n not in _SCOPE_NAMES]
    if unknown or not names:
        raise ConfigError(f"unknown scope(s) {unknown}: use read, write and/or ingest")
    if args.ttl.total_seconds() > settings.jwt_max_ttl_s:
        raise ConfigError(
            f"--ttl is longer than PAYMENTSVC_JWT_MAX_TTL ({settings.jwt_max_ttl_s} s): "
            "the server would refuse the token"
        )
    # The token goes to stdout alone, so that scripts can capture it.
    print(mint_token(settings, args.service, [_SCOPE_NAMES[n] for n in names], args.ttl))
    return OK


def _reconcile(settings: Settings, args: argparse.Namespace) -> int:
    app = bootstrap(settings)
    deps = (
        app.deps
        if args.rps is None
        else dataclasses.replace(app.deps, stripe_pacer=Pacer(args.rps))
    )
    try:
        report = reconcile(
            deps,
            fix=args.fix,
            progress=lambda n: print(f"... {n} subscriptions checked", flush=True),
        )
    finally:
        app.close()
    for drift in report.drift:
        print(f"{drift.kind}: {drift.subscription_id}: {drift.detail}")
    print(
        f"checked {report.checked}: {report.count('missing')} missing, "
        f"{report.count('different')} different, {report.foreign} not ours"
        + (f"; fixed {report.fixed}, failed {report.failed}" if args.fix else "")
    )
    if report.failed or (report.drift and not args.fix):
        return FAILED
    return OK


def _cleanup(settings: Settings, args: argparse.Namespace) -> int:
    app = bootstrap(settings)
    try:
        report = clean_up(
            app.deps,
            processed_events_older_than=timedelta(days=settings.event_retention_days),
            idempotency_records_older_than=timedelta(hours=settings.idempotency_retention_hours),
        )
    finally:
        app.close()
    print(
        f"deleted {report.events_deleted} processed event(s) older than "
        f"{settings.event_retention_days} days and {report.idempotency_records_deleted} "
        f"idempotency record(s) older than {settings.idempotency_retention_hours} hours"
    )
    return OK
