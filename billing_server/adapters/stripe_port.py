"""The narrow port through which the service talks to Stripe."""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from billing_server.domain.checkouts import CheckoutSession, NewCheckout
from billing_server.domain.plans import Plan, Proration
from billing_server.domain.subscriptions import SubscriptionSnapshot


@dataclass(frozen=True)
class InvoiceSummary:
    id: str
    # None for an invoice that belongs to no subscription (a one-off).
    subscription_id: str | None
    customer_id: str | None


class AbstractStripeGateway(abc.ABC):
    """Every Stripe call the service makes. Implementations raise the domain's
    errors (NotFound, Unavailable, FailedPrecondition), never stripe's."""

    @abc.abstractmethod
    def create_customer(self, account_id: str, email: str | None, idempotency_key: str) -> str:
        """Creates a customer for the account and returns its id."""

    @abc.abstractmethod
    def account_of_customer(self, customer_id: str) -> str | None:
        """The account a customer was created for (its `account_id` metadata)."""

    @abc.abstractmethod
    def price_id_for(self, plan: Plan) -> str:
        """Resolves the plan's Stripe price (by lookup key or id) to a price id."""

    @abc.abstractmethod
    def create_checkout_session(
        self, checkout: NewCheckout, idempotency_key: str
    ) -> CheckoutSession: ...

    @abc.abstractmethod
    def get_checkout_session(self, session_id: str) -> CheckoutSession:
        """The session with its subscription expanded."""

    @abc.abstractmethod
    def get_subscription(self, subscription_id: str) -> SubscriptionSnapshot: ...

    @abc.abstractmethod
    def get_invoice(self, invoice_id: str) -> InvoiceSummary:
        """The invoice, read in the pinned API version: whose subscription it bills."""

    @abc.abstractmethod
    def change_price(
        self,
        subscription_id: str,
        item_id: str,
        price_id: str,
        proration: Proration,
        idempotency_key: str,
    ) -> SubscriptionSnapshot: ...

    @abc.abstractmethod
    def cancel_at_period_end(
        self, subscription_id: str, idempotency_key: str
    ) -> SubscriptionSnapshot: ...

    @abc.abstractmethod
    def cancel_now(self, subscription_id: str, idempotency_key: str) -> SubscriptionSnapshot: ...

    @abc.abstractmethod
    def create_portal_session(self, customer_id: str, return_url: str) -> str:
        """Returns the portal session's URL."""

    @abc.abstractmethod
    def list_events(self, since: datetime, types: Sequence[str]) -> Iterator[bytes]:
        """Events created since `since` (Stripe keeps 30 days), as JSON payloads."""

    @abc.abstractmethod
    def list_subscriptions(self, pace: Callable[[], None]) -> Iterator[SubscriptionSnapshot]:
        """Every subscription, whatever its status; `pace` is called before
        each page, to stay within Stripe's rate limit."""
