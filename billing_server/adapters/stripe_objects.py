"""Reading Stripe's objects, in the shape of the pinned API version."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from billing_server.adapters.stripe_port import InvoiceSummary
from billing_server.domain.checkouts import CheckoutSession
from billing_server.domain.subscriptions import SubscriptionSnapshot, SubscriptionStatus


def timestamp(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if value is not None else None


def subscription_snapshot(obj: Mapping[str, Any]) -> SubscriptionSnapshot:
    items = obj["items"]["data"]
    if not items:
        raise ValueError(f"subscription {obj['id']} has no items")
    # The service sells one price per subscription. Since API version
    # 2025-03-31 the billing period lives on each item, not the subscription.
    item = items[0]
    price = item["price"]
    created = timestamp(obj["created"])
    assert created is not None
    return SubscriptionSnapshot(
        id=obj["id"],
        customer_id=_id(obj["customer"]),
        status=SubscriptionStatus(obj["status"]),
        item_id=item["id"],
        price_id=_id(price),
        price_lookup_key=price.get("lookup_key") if isinstance(price, Mapping) else None,
        current_period_start=timestamp(item.get("current_period_start")),
        current_period_end=timestamp(item.get("current_period_end")),
        cancel_at_period_end=bool(obj.get("cancel_at_period_end")),
        cancel_at=timestamp(obj.get("cancel_at")),
        canceled_at=timestamp(obj.get("canceled_at")),
        ended_at=timestamp(obj.get("ended_at")),
        created=created,
        metadata={str(k): str(v) for k, v in (obj.get("metadata") or {}).items()},
    )


def checkout_session(obj: Mapping[str, Any]) -> CheckoutSession:
    subscription = obj.get("subscription")
    return CheckoutSession(
        id=obj["id"],
        url=obj.get("url"),
        status=obj.get("status") or "open",
        customer_id=_id(obj["customer"]) if obj.get("customer") else None,
        client_reference_id=obj.get("client_reference_id"),
        metadata={str(k): str(v) for k, v in (obj.get("metadata") or {}).items()},
        expires_at=timestamp(obj.get("expires_at")),
        subscription=subscription_snapshot(subscription)
        if isinstance(subscription, Mapping)
        else None,
    )


def invoice_summary(obj: Mapping[str, Any]) -> InvoiceSummary:
    # Since API version 2025-03-31 an invoice names its subscription under
    # parent.subscription_details.
    parent = obj.get("parent") or {}
    details = parent.get("subscription_details") or {}
    subscription = details.get("subscription")
    customer = obj.get("customer")
    return InvoiceSummary(
        id=str(obj["id"]),
        subscription_id=_id(subscription) if subscription else None,
        customer_id=_id(customer) if customer else None,
    )


def _id(value: Any) -> str:
    """An expandable field holds either an id or the expanded object."""
    if isinstance(value, Mapping):
        return str(value["id"])
    return str(value)
