"""A checkout: what the service asks Stripe to sell, and the session Stripe
opens for it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from billing_server.domain.subscriptions import SubscriptionSnapshot


@dataclass(frozen=True)
class NewCheckout:
    customer_id: str
    price_id: str
    account_id: str
    plan: str
    success_url: str
    cancel_url: str
    # Free days before the first charge; 0 for none.
    trial_days: int = 0


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str | None
    status: str
    customer_id: str | None
    client_reference_id: str | None
    metadata: dict[str, str]
    expires_at: datetime | None
    subscription: SubscriptionSnapshot | None
