"""The real Stripe adapter, on the official `stripe` library."""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime

import stripe
from stripe.params import (
    CustomerCreateParams,
    EventListParams,
    SubscriptionListParams,
    SubscriptionUpdateParams,
)
from stripe.params.checkout import SessionCreateParams, SessionCreateParamsSubscriptionData

from billing_server.adapters import stripe_objects
from billing_server.adapters.stripe_calls import StripeCalls
from billing_server.adapters.stripe_http import DeadlineBoundClient
from billing_server.adapters.stripe_port import AbstractStripeGateway, InvoiceSummary
from billing_server.domain.checkouts import CheckoutSession, NewCheckout
from billing_server.domain.errors import FailedPrecondition
from billing_server.domain.plans import Plan, Proration
from billing_server.domain.subscriptions import SubscriptionSnapshot

# Resolved lookup keys are cached briefly: a checkout should not cost an extra
# Stripe round trip, yet a price moved with `transfer_lookup_key` is picked up.
PRICE_CACHE_SECONDS = 300.0


def make_client(
    api_key: str, api_base: str | None, timeout_s: float, max_network_retries: int
) -> stripe.StripeClient:
    """A Stripe client; `api_base` points it at the emulator (None: Stripe's API)."""
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base} if api_base else None,
        max_network_retries=max_network_retries,
        http_client=DeadlineBoundClient(timeout_s),
    )


class StripeGateway(AbstractStripeGateway):
    def __init__(self, client: stripe.StripeClient, calls: StripeCalls) -> None:
        self._stripe = client
        self._call = calls
        self._prices: dict[str, tuple[str, float]] = {}
        self._prices_lock = threading.Lock()

    def check_key(self) -> None:
        """One cheap read that Stripe answers only for a valid key: raises
        what any call would (refused key, Stripe out of reach)."""
        self._call("list prices", lambda: self._stripe.v1.prices.list({"limit": 1}))

    def create_customer(self, account_id: str, email: str | None, idempotency_key: str) -> str:
        params: CustomerCreateParams = {"metadata": {"account_id": account_id}}
        if email:
            params["email"] = email
        customer = self._call(
            "create customer",
            lambda: self._stripe.v1.customers.create(params, {"idempotency_key": idempotency_key}),
        )
        return str(customer.id)

    def account_of_customer(self, customer_id: str) -> str | None:
        customer = self._call(
            "retrieve customer", lambda: self._stripe.v1.customers.retrieve(customer_id)
        ).to_dict()
        if customer.get("deleted"):
            return None
        account_id = (customer.get("metadata") or {}).get("account_id")
        return str(account_id) if account_id else None

    def price_id_for(self, plan: Plan) -> str:
        if plan.price_id is not None:
            return plan.price_id
        key = plan.price_lookup_key
        if key is None:
            raise FailedPrecondition(
                f"plan {plan.name!r} has no price and cannot be bought",
                reason="PLAN_NOT_PURCHASABLE",
            )
        with self._prices_lock:
            cached = self._prices.get(key)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        prices = self._call(
            "find price",
            lambda: self._stripe.v1.prices.list({"lookup_keys": [key], "active": True, "limit": 1}),
        )
        if not prices.data:
            raise FailedPrecondition(
                f"no active Stripe price has lookup key {key!r}: run `billing-admin catalog sync`",
                reason="PRICE_NOT_FOUND",
                metadata={"lookup_key": key},
            )
        price_id = str(prices.data[0].id)
        with self._prices_lock:
            self._prices[key] = (price_id, time.monotonic() + PRICE_CACHE_SECONDS)
        return price_id

    def create_checkout_session(
        self, checkout: NewCheckout, idempotency_key: str
    ) -> CheckoutSession:
        metadata = {"account_id": checkout.account_id, "plan": checkout.plan}
        # Copied onto the subscription, so that its webhooks name the account.
        subscription: SessionCreateParamsSubscriptionData = {"metadata": metadata}
        if checkout.trial_days:
            subscription["trial_period_days"] = checkout.trial_days
        params: SessionCreateParams = {
            "mode": "subscription",
            "customer": checkout.customer_id,
            "client_reference_id": checkout.account_id,
            "line_items": [{"price": checkout.price_id, "quantity": 1}],
            "success_url": checkout.success_url,
            "cancel_url": checkout.cancel_url,
            "metadata": metadata,
            "subscription_data": subscription,
        }
        session = self._call(
            "create checkout session",
            lambda: self._stripe.v1.checkout.sessions.create(
                params, {"idempotency_key": idempotency_key}
            ),
        )
        return stripe_objects.checkout_session(session.to_dict())

    def get_checkout_session(self, session_id: str) -> CheckoutSession:
        session = self._call(
            "retrieve checkout session",
            lambda: self._stripe.v1.checkout.sessions.retrieve(
                session_id, {"expand": ["subscription"]}
            ),
        )
        return stripe_objects.checkout_session(session.to_dict())

    def get_subscription(self, subscription_id: str) -> SubscriptionSnapshot:
        subscription = self._call(
            "retrieve subscription",
            lambda: self._stripe.v1.subscriptions.retrieve(subscription_id),
        )
        return stripe_objects.subscription_snapshot(subscription.to_dict())

    def get_invoice(self, invoice_id: str) -> InvoiceSummary:
        invoice = self._call(
            "retrieve invoice", lambda: self._stripe.v1.invoices.retrieve(invoice_id)
        )
        return stripe_objects.invoice_summary(invoice.to_dict())

    def change_price(
        self,
        subscription_id: str,
        item_id: str,
        price_id: str,
        proration: Proration,
        idempotency_key: str,
    ) -> SubscriptionSnapshot:
        params: SubscriptionUpdateParams = {
            "items": [{"id": item_id, "price": price_id}],
            "proration_behavior": proration.value,
        }
        updated = self._call(
            "update subscription",
            lambda: self._stripe.v1.subscriptions.update(
                subscription_id, params, {"idempotency_key": idempotency_key}
            ),
        )
        return stripe_objects.subscription_snapshot(updated.to_dict())

    def cancel_at_period_end(
        self, subscription_id: str, idempotency_key: str
    ) -> SubscriptionSnapshot:
        updated = self._call(
            "update subscription",
            lambda: self._stripe.v1.subscriptions.update(
                subscription_id,
                {"cancel_at_period_end": True},
                {"idempotency_key": idempotency_key},
            ),
        )
        return stripe_objects.subscription_snapshot(updated.to_dict())

    def cancel_now(self, subscription_id: str, idempotency_key: str) -> SubscriptionSnapshot:
        canceled = self._call(
            "cancel subscription",
            lambda: self._stripe.v1.subscriptions.cancel(
                subscription_id, None, {"idempotency_key": idempotency_key}
            ),
        )
        return stripe_objects.subscription_snapshot(canceled.to_dict())

    def list_events(self, since: datetime, types: Sequence[str]) -> Iterator[bytes]:
        return _events(self._stripe, self._call, since, types)

    def list_subscriptions(self, pace: Callable[[], None]) -> Iterator[SubscriptionSnapshot]:
        params: SubscriptionListParams = {"status": "all", "limit": 100}
        while True:
            pace()
            page = self._call(
                "list subscriptions",
                functools.partial(self._stripe.v1.subscriptions.list, params.copy()),
            )
            for subscription in page.data:
                yield stripe_objects.subscription_snapshot(subscription.to_dict())
            if not page.has_more or not page.data:
                return
            params["starting_after"] = page.data[-1].id

    def create_portal_session(self, customer_id: str, return_url: str) -> str:
        session = self._call(
            "create portal session",
            lambda: self._stripe.v1.billing_portal.sessions.create(
                {"customer": customer_id, "return_url": return_url}
            ),
        )
        return str(session.url)


def _events(
    client: stripe.StripeClient, calls: StripeCalls, since: datetime, types: Sequence[str]
) -> Iterator[bytes]:
    params: EventListParams = {
        "created": {"gte": int(since.timestamp())},
        "types": list(types),
        "limit": 100,
    }
    while True:
        page = calls("list events", functools.partial(client.v1.events.list, params.copy()))
        for event in page.data:
            # The stripe library parses Stripe's decimal strings (such as
            # unit_amount_decimal) into Decimal; they go back out as strings.
            yield json.dumps(event.to_dict(), default=str).encode()
        if not page.has_more or not page.data:
            return
        params["starting_after"] = page.data[-1].id
