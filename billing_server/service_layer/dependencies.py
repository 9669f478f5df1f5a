"""What every use case may reach: the database, Stripe, the catalogue, time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from billing_server.adapters.entitlement_view import EntitlementView
from billing_server.adapters.stripe_port import AbstractStripeGateway
from billing_server.domain.plans import Catalog
from billing_server.service_layer.unit_of_work import UnitOfWorkFactory
from billing_server.telemetry import NullTelemetry, Telemetry


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class CheckoutUrls:
    success: str
    cancel: str
    portal_return: str


@dataclass(frozen=True)
class Dependencies:
    uow: UnitOfWorkFactory
    stripe: AbstractStripeGateway
    catalog: Catalog
    urls: CheckoutUrls
    clock: Callable[[], datetime] = utc_now
    telemetry: Telemetry = field(default_factory=NullTelemetry)
    # CheckPlan's in-memory view; None reads the database every time.
    view: EntitlementView | None = None
