"""Wires the service together from Settings. Nothing is built at import time."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import stripe
from sqlalchemy import Engine

from billing_server.adapters import migrations
from billing_server.adapters.catalog_file import load_catalog
from billing_server.adapters.change_listener import ChangeListener
from billing_server.adapters.change_poller import ChangePoller
from billing_server.adapters.database import (
    Database,
    answered_or_unavailable,
    connect,
    make_engine,
)
from billing_server.adapters.entitlement_view import EntitlementView
from billing_server.adapters.group_commit import GroupCommit
from billing_server.adapters.report_queries import SqlReportQueries
from billing_server.adapters.standing_reader import StandingReader
from billing_server.adapters.stripe_calls import StripeCalls
from billing_server.adapters.stripe_catalog import StripeCatalog
from billing_server.adapters.stripe_gateway import StripeGateway, make_client
from billing_server.adapters.stripe_port import AbstractStripeGateway
from billing_server.adapters.stripe_webhook_endpoints import StripeWebhookEndpoints
from billing_server.adapters.support_queries import SqlSupportQueries
from billing_server.adapters.tokens import TokenVerifier, issue_token
from billing_server.adapters.view_keeper import ViewKeeper
from billing_server.circuit_breaker import CircuitBreaker
from billing_server.config import Settings
from billing_server.domain.callers import Scope
from billing_server.domain.events import InboundEvent
from billing_server.domain.plans import Catalog
from billing_server.domain.rate_limits import Pacer
from billing_server.domain.stored_events import Backlog
from billing_server.service_layer.change_feed import ChangeFeed
from billing_server.service_layer.dependencies import (
    CheckoutUrls,
    Dependencies,
    WebhookSecrets,
    utc_now,
)
from billing_server.service_layer.doorbell import Doorbell
from billing_server.service_layer.event_recovery import event_backlog
from billing_server.service_layer.ingest import BatchedIntake, store_events
from billing_server.service_layer.unit_of_work import AbstractUnitOfWork, SqlAlchemyUnitOfWork
from billing_server.telemetry_port import NullTelemetry, Telemetry


def stripe_calls(settings: Settings, telemetry: Telemetry | None = None) -> StripeCalls:
    return StripeCalls(
        CircuitBreaker(settings.stripe_breaker_failures, settings.stripe_breaker_cooldown_s),
        telemetry=telemetry,
    )


def stripe_client(settings: Settings) -> stripe.StripeClient:
    return make_client(
        settings.stripe_api_key,
        settings.stripe_api_base,
        settings.stripe_attempt_timeout_s,
        settings.stripe_max_network_retries,
    )


def stripe_gateway(settings: Settings) -> StripeGateway:
    return StripeGateway(stripe_client(settings), stripe_calls(settings))


def webhook_endpoints(settings: Settings) -> StripeWebhookEndpoints:
    return StripeWebhookEndpoints(stripe_client(settings), stripe_calls(settings))


def stripe_catalog(settings: Settings) -> StripeCatalog:
    return StripeCatalog(stripe_client(settings), stripe_calls(settings))


def token_verifier(settings: Settings) -> TokenVerifier | None:
    """The verifier of callers' tokens; None when authentication is off."""
    if not settings.jwt_keys:
        return None
    return TokenVerifier(
        settings.jwt_keys, settings.jwt_audience, settings.jwt_leeway_s, settings.jwt_max_ttl_s
    )


def mint_token(settings: Settings, service: str, scopes: Iterable[Scope], ttl: timedelta) -> str:
    """A token for `service`, signed with the current key (the first)."""
    return issue_token(
        settings.jwt_keys[0], service, scopes, ttl, datetime.now(UTC), settings.jwt_audience
    )


def plans(settings: Settings) -> Catalog:
    """The catalogue of the configured plans file; CatalogError if unusable."""
    return load_catalog(settings.plans_file)


def migrate_schema(settings: Settings, revision: str) -> tuple[set[str], set[str]]:
    """Moves the schema to `revision` ("head": the newest), either way; the
    revisions before and after. MigrationRefused if Alembic will not."""
    with _schema_engine(settings) as engine:
        before = migrations.current_revisions(engine)
        if revision == "head":
            migrations.upgrade(engine)
        else:
            migrations.migrate_to(engine, revision)
        return before, migrations.current_revisions(engine)


def schema_revisions(settings: Settings) -> tuple[set[str], set[str]]:
    """The database's schema revisions, and this release's heads."""
    with _schema_engine(settings) as engine:
        return migrations.current_revisions(engine), migrations.head_revisions(engine)


def schema_revisions_at_head(settings: Settings) -> set[str]:
    """The database's schema revisions; raises unless they are the head."""
    with _schema_engine(settings) as engine:
        migrations.ensure_at_head(engine)
        return set(migrations.current_revisions(engine))


@contextlib.contextmanager
def _schema_engine(settings: Settings) -> Iterator[Engine]:
    """An engine of its own for a schema command, disposed after it."""
    engine = make_engine(settings.database_url, settings)
    try:
        yield engine
    finally:
        engine.dispose()


@dataclass(frozen=True)
class GaugeReadings:
    """What the metrics gauges read from the database at scrape time."""

    subscription_counts: Callable[[], list[tuple[str, str, int]]]
    # By state (in_use, idle, overflow); empty for a pool that does not count.
    pool_connections: Callable[[], dict[str, int]]
    backlog: Callable[[], Backlog]


def gauge_readings(settings: Settings) -> GaugeReadings:
    """The readings of a process that serves only the metrics (the supervisor)."""
    database = connect(settings)

    def backlog() -> Backlog:
        with SqlAlchemyUnitOfWork(database.reader) as uow:
            return answered_or_unavailable(lambda: uow.events.backlog(utc_now()))

    return GaugeReadings(database.subscription_counts, database.pool_connections, backlog)


@dataclass(frozen=True)
class Application:
    settings: Settings
    database: Database
    deps: Dependencies
    # None when a test hands in its own Stripe gateway.
    stripe_breaker: CircuitBreaker | None
    changes: ChangeFeed
    # Hears other processes' changes once started: NOTIFY on PostgreSQL,
    # polling on SQLite.
    change_listener: ChangeListener | ChangePoller
    # Loads the entitlement view once started (after the listener), then
    # keeps it current.
    view_keeper: ViewKeeper
    # Rung when webhook events become due, here or (by NOTIFY) on any replica.
    events_due: Doorbell
    inbox_writer: GroupCommit[tuple[InboundEvent, str | None], bool]

    def gauge_readings(self) -> GaugeReadings:
        def backlog() -> Backlog:
            return answered_or_unavailable(lambda: event_backlog(self.deps))

        return GaugeReadings(
            self.database.subscription_counts, self.database.pool_connections, backlog
        )

    def report_queries(self) -> SqlReportQueries:
        return SqlReportQueries(self.database.engine)

    def support_queries(self) -> SqlSupportQueries:
        return SqlSupportQueries(self.database.engine)

    def close(self) -> None:
        self.inbox_writer.close()
        self.view_keeper.stop()
        self.change_listener.stop()
        self.changes.close()
        self.database.dispose()


def bootstrap(
    settings: Settings,
    *,
    stripe: AbstractStripeGateway | None = None,
    require_schema_at_head: bool = True,
    telemetry: Telemetry | None = None,
) -> Application:
    catalog = plans(settings)
    database = connect(settings)
    if require_schema_at_head:
        migrations.ensure_at_head(database.engine)

    breaker = None
    if stripe is None:
        calls = stripe_calls(settings, telemetry)
        breaker = calls.breaker
        stripe = StripeGateway(stripe_client(settings), calls)

    view = EntitlementView(timedelta(seconds=settings.stale_serve_max_s))
    feed = ChangeFeed(settings.watch_window)

    def committed(changed: dict[str, int]) -> None:
        # Read-your-writes on this replica: the account is outdated in the
        # view the moment the change commits. Other replicas hear it by NOTIFY.
        for account_id, version in changed.items():
            heard(account_id, version)

    def heard(account_id: str, version: int) -> None:
        view.changed(account_id, version)
        feed.publish(account_id, version)

    def lost(last_known_current: datetime) -> None:
        view.lost(last_known_current)
        feed.reset()

    def regained() -> None:
        view.regained()
        feed.reset()

    def forget(account_id: str) -> None:
        view.forget(account_id)
        feed.forget(account_id)

    events_due = Doorbell()
    listener: ChangeListener | ChangePoller = (
        ChangeListener(
            database.engine,
            heard,
            lost,
            regained,
            on_events_due=events_due.ring,
            on_forget=forget,
        )
        if database.engine.dialect.name == "postgresql"
        else ChangePoller(
            database.engine,
            heard,
            settings.change_poll_interval_s,
            on_lost=lost,
            on_regained=regained,
        )
    )

    def unit_of_work(write: bool = False) -> AbstractUnitOfWork:
        return SqlAlchemyUnitOfWork(
            database.writer if write else database.reader, committed, events_due.ring
        )

    # Deliveries that arrive together are stored in one transaction.
    inbox_writer: GroupCommit[tuple[InboundEvent, str | None], bool] = GroupCommit(
        lambda batch: store_events(unit_of_work, batch, utc_now()), name="inbox-writer"
    )

    deps = Dependencies(
        uow=unit_of_work,
        stripe=stripe,
        catalog=catalog,
        telemetry=telemetry or NullTelemetry(),
        view=view,
        urls=CheckoutUrls(
            success=settings.success_url,
            cancel=settings.cancel_url,
            portal_return=settings.return_url,
        ),
        webhooks=WebhookSecrets(settings.webhook_secrets, settings.webhook_tolerance_s),
        intake=BatchedIntake(inbox_writer),
        stripe_pacer=Pacer(settings.stripe_requests_per_second),
    )
    keeper = ViewKeeper(view, StandingReader(database.engine))
    return Application(
        settings, database, deps, breaker, feed, listener, keeper, events_due, inbox_writer
    )
