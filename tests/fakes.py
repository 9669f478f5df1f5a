"""Test doubles for the service's ports."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from billing_server.adapters.stripe_port import AbstractStripeGateway, InvoiceSummary
from billing_server.domain.checkouts import CheckoutSession, NewCheckout
from billing_server.domain.errors import FailedPrecondition, NotFound
from billing_server.domain.plans import Plan, Proration
from billing_server.domain.subscriptions import SubscriptionSnapshot, SubscriptionStatus


class FakeStripeGateway(AbstractStripeGateway):
    """Stripe in memory: honours idempotency keys and counts every call."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: list[str] = []
        self.customers: dict[str, str] = {}
        # The email each created customer was given.
        self.emails: list[str | None] = []
        self.sessions: dict[str, CheckoutSession] = {}
        self.subscriptions: dict[str, SubscriptionSnapshot] = {}
        self.invoices: dict[str, InvoiceSummary] = {}
        self._replies: dict[str, object] = {}
        self.lookup_keys: dict[str, str | None] = {}
        # What the Events API lists, as (created, payload).
        self.events: list[tuple[datetime, bytes]] = []
        self.failures: dict[str, Exception] = {}

    def _id(self, prefix: str) -> str:
        # Unique across tests: they share one database.
        return f"{prefix}_fake{uuid.uuid4().hex[:14]}"

    def _once(self, key: str, make: object) -> object:
        with self._lock:
            if key not in self._replies:
                self._replies[key] = make() if callable(make) else make
            return self._replies[key]

    def create_customer(self, account_id: str, email: str | None, idempotency_key: str) -> str:
        self.calls.append("create_customer")

        def make() -> str:
            customer_id = self._id("cus")
            self.customers[customer_id] = account_id
            self.emails.append(email)
            return customer_id

        result = self._once(idempotency_key, make)
        assert isinstance(result, str)
        return result

    def account_of_customer(self, customer_id: str) -> str | None:
        self.calls.append("account_of_customer")
        return self.customers.get(customer_id)

    def price_id_for(self, plan: Plan) -> str:
        if not plan.purchasable:
            raise FailedPrecondition("no price", reason="PLAN_NOT_PURCHASABLE")
        price_id = plan.price_id or f"price_{plan.name}"
        self.lookup_keys[price_id] = plan.price_lookup_key
        return price_id

    def create_checkout_session(
        self, checkout: NewCheckout, idempotency_key: str
    ) -> CheckoutSession:
        self.calls.append("create_checkout_session")

        def make() -> CheckoutSession:
            session = CheckoutSession(
                id=self._id("cs_test"),
                url="https://checkout.example/pay",
                status="open",
                customer_id=checkout.customer_id,
                client_reference_id=checkout.account_id,
                metadata={"account_id": checkout.account_id, "price": checkout.price_id},
                expires_at=datetime.now(UTC) + timedelta(hours=24),
                subscription=None,
            )
            self.sessions[session.id] = session
            return session

        result = self._once(idempotency_key, make)
        assert isinstance(result, CheckoutSession)
        return result

    def complete(self, session_id: str) -> SubscriptionSnapshot:
        """Acts out the customer paying, as Stripe Checkout would."""
        session = self.sessions[session_id]
        now = datetime.now(UTC).replace(microsecond=0)
        price_id = session.metadata["price"]
        subscription = SubscriptionSnapshot(
            id=self._id("sub"),
            customer_id=session.customer_id or "",
            status=SubscriptionStatus.ACTIVE,
            item_id=self._id("si"),
            price_id=price_id,
            price_lookup_key=self.lookup_keys[price_id],
            current_period_start=now,
            current_period_end=now + timedelta(days=30),
            cancel_at_period_end=False,
            canceled_at=None,
            ended_at=None,
            created=now,
            metadata={"account_id": session.client_reference_id or ""},
        )
        self.subscriptions[subscription.id] = subscription
        self.sessions[session_id] = replace(session, status="complete", subscription=subscription)
        return subscription

    def get_checkout_session(self, session_id: str) -> CheckoutSession:
        self.calls.append("get_checkout_session")
        if session_id not in self.sessions:
            raise NotFound("no such session", reason="STRIPE_RESOURCE_MISSING")
        return self.sessions[session_id]

    def get_subscription(self, subscription_id: str) -> SubscriptionSnapshot:
        self.calls.append("get_subscription")
        if "get_subscription" in self.failures:
            raise self.failures["get_subscription"]
        if subscription_id not in self.subscriptions:
            raise NotFound("no such subscription", reason="STRIPE_RESOURCE_MISSING")
        return self.subscriptions[subscription_id]

    def get_invoice(self, invoice_id: str) -> InvoiceSummary:
        self.calls.append("get_invoice")
        if invoice_id not in self.invoices:
            raise NotFound("no such invoice", reason="STRIPE_RESOURCE_MISSING")
        return self.invoices[invoice_id]

    def list_subscriptions(self, pace: Callable[[], None]) -> Iterator[SubscriptionSnapshot]:
        self.calls.append("list_subscriptions")
        pace()
        return iter(list(self.subscriptions.values()))

    def list_events(self, since: datetime, types: Sequence[str]) -> Iterator[bytes]:
        self.calls.append("list_events")
        return iter([payload for created, payload in self.events if created >= since])

    def change_price(
        self,
        subscription_id: str,
        item_id: str,
        price_id: str,
        proration: Proration,
        idempotency_key: str,
    ) -> SubscriptionSnapshot:
        self.calls.append("change_price")
        return self._update(
            subscription_id, price_id=price_id, price_lookup_key=self.lookup_keys[price_id]
        )

    def cancel_at_period_end(
        self, subscription_id: str, idempotency_key: str
    ) -> SubscriptionSnapshot:
        self.calls.append("cancel_at_period_end")
        return self._update(subscription_id, cancel_at_period_end=True)

    def cancel_now(self, subscription_id: str, idempotency_key: str) -> SubscriptionSnapshot:
        self.calls.append("cancel_now")
        now = datetime.now(UTC)
        return self._update(
            subscription_id, status=SubscriptionStatus.CANCELED, canceled_at=now, ended_at=now
        )

    def _update(self, subscription_id: str, **changes: object) -> SubscriptionSnapshot:
        updated = replace(self.subscriptions[subscription_id], **changes)  # type: ignore[arg-type]
        self.subscriptions[subscription_id] = updated
        return updated

    def create_portal_session(self, customer_id: str, return_url: str) -> str:
        self.calls.append("create_portal_session")
        return f"https://billing.example/portal/{customer_id}"
