"""Stripe objects and events in the shape of the pinned API version, for tests."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from billing_server.adapters import stripe_objects
from billing_server.domain.subscriptions import SubscriptionSnapshot


def subscription(
    subscription_id: str,
    customer_id: str,
    *,
    status: str = "active",
    lookup_key: str = "paymentsvc_pro_monthly",
    period_start: datetime,
    cancel_at_period_end: bool = False,
    cancel_at: datetime | None = None,
    account_id: str | None = None,
) -> dict[str, Any]:
    start = int(period_start.timestamp())
    end = int((period_start + timedelta(days=30)).timestamp())
    return {
        "id": subscription_id,
        "object": "subscription",
        "customer": customer_id,
        "status": status,
        "created": start,
        "cancel_at_period_end": cancel_at_period_end,
        "cancel_at": int(cancel_at.timestamp()) if cancel_at else None,
        "canceled_at": start + 60 if status == "canceled" else None,
        "ended_at": start + 60 if status == "canceled" else None,
        "metadata": {"account_id": account_id} if account_id else {},
        "items": {
            "object": "list",
            "data": [
                {
                    "id": f"si_{subscription_id}",
                    "object": "subscription_item",
                    # Since 2025-03-31 the period lives on the item.
                    "current_period_start": start,
                    "current_period_end": end,
                    "price": {
                        "id": f"price_{lookup_key}",
                        "object": "price",
                        "lookup_key": lookup_key,
                    },
                    "quantity": 1,
                }
            ],
        },
    }


def snapshot(obj: dict[str, Any]) -> SubscriptionSnapshot:
    return stripe_objects.subscription_snapshot(obj)


def invoice(subscription_id: str, customer_id: str) -> dict[str, Any]:
    return {
        "id": f"in_{uuid.uuid4().hex[:14]}",
        "object": "invoice",
        "customer": customer_id,
        "subscription": None,
        "parent": {
            "type": "subscription_details",
            "subscription_details": {"subscription": subscription_id, "metadata": {}},
        },
    }


def checkout_session(
    session_id: str, account_id: str, customer_id: str, subscription_id: str
) -> dict[str, Any]:
    return {
        "id": session_id,
        "object": "checkout.session",
        "mode": "subscription",
        "status": "complete",
        "client_reference_id": account_id,
        "customer": customer_id,
        "subscription": subscription_id,
        "metadata": {"account_id": account_id},
    }


def event(event_type: str, obj: dict[str, Any], created: datetime) -> bytes:
    return json.dumps(
        {
            "id": f"evt_{uuid.uuid4().hex[:20]}",
            "object": "event",
            "type": event_type,
            "created": int(created.timestamp()),
            "api_version": "2026-10-28.endive",
            "data": {"object": obj},
            "livemode": False,
            "pending_webhooks": 1,
        }
    ).encode()
