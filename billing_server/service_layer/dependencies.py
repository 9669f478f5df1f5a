"""What every use case may reach: the database, Stripe, the catalogue, time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from billing_server.adapters.entitlement_view import EntitlementView
from billing_server.adapters.stripe_port import AbstractStripeGateway
from billing_server.domain.events import InboundEvent
from billing_server.domain.plans import Catalog
from billing_server.domain.rate_limits import Pacer
from billing_server.service_layer.claims import HeldClaims
from billing_server.service_layer.unit_of_work import UnitOfWorkFactory
from billing_server.telemetry_port import NullTelemetry, Telemetry

# Stripe allows 25 requests/s in test mode and 100 live; what the applier and
# reconciliation take leaves the rest to the calls callers wait for.
DEFAULT_STRIPE_RATE = 20.0


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class CheckoutUrls:
    success: str
    cancel: str
    portal_return: str


@dataclass(frozen=True)
class WebhookSecrets:
    # Every secret accepted (several while one is rotated); none: deliveries
    # cannot be verified and are refused.
    secrets: tuple[str, ...] = ()
    tolerance_s: int = 300


class EventIntake(Protocol):
    def store(self, event: InboundEvent, traceparent: str | None) -> bool:
        """Stores the event durably unless its id is known; True when stored now."""


@dataclass(frozen=True)
class Dependencies:
    uow: UnitOfWorkFactory
    stripe: AbstractStripeGateway
    catalog: Catalog
    urls: CheckoutUrls
    # Where verified deliveries are stored (group commit in the server).
    intake: EventIntake
    clock: Callable[[], datetime] = utc_now
    telemetry: Telemetry = field(default_factory=NullTelemetry)
    # CheckPlan's in-memory view; None reads the database every time.
    view: EntitlementView | None = None
    webhooks: WebhookSecrets = field(default_factory=WebhookSecrets)
    # Every Stripe request the applier and reconciliation make waits its turn here.
    stripe_pacer: Pacer = field(default_factory=lambda: Pacer(DEFAULT_STRIPE_RATE))
    # Released at shutdown, so that retries elsewhere need not wait them out.
    claims: HeldClaims = field(default_factory=HeldClaims)
