"""Signed `customer.subscription.updated` events, as Stripe delivers them."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass

WEBHOOK_SECRET = "whsec_bench_only_secret"


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    """A Stripe-Signature header value (scheme v1: HMAC-SHA256 of `t.payload`)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def event_id(run_tag: str, i: int) -> str:
    return f"evt_bench_{run_tag}_{i:08d}"


def event_index(event: str) -> int:
    """i of event_id(run_tag, i)."""
    return int(event.rsplit("_", 1)[1])


def account_of(subscription: int) -> str:
    return f"acct_wh_{subscription:05d}"


# Successive events of a subscription differ in status and
# cancel_at_period_end as well as in period: a subscription left in any
# state but its newest event's shows.
_STATUSES = ("active", "past_due", "trialing", "unpaid")


@dataclass(frozen=True)
class EventState:
    """What event i says its subscription is."""

    subscription_id: str
    status: str
    cancel_at_period_end: bool
    current_period_end: int


@dataclass(frozen=True)
class SignedEvents:
    """Event i updates subscription i % subscriptions.

    `created` grows by one second per event, so that every event of a
    subscription is strictly newer than the one before (the server fetches
    from Stripe when two share a second), and each moves the billing period
    (and its status and cancel_at_period_end, see `state`) so that applying
    it really changes the subscription.
    """

    run_tag: str
    subscriptions: int
    base_created: int
    secret: str = WEBHOOK_SECRET

    @property
    def event_id_prefix(self) -> str:
        return f"evt_bench_{self.run_tag}_"  # of event_id(run_tag, i)

    @property
    def subscription_id_prefix(self) -> str:
        return f"sub_wh_{self.run_tag}_"

    def subscription_id(self, n: int) -> str:
        return f"{self.subscription_id_prefix}{n:05d}"

    def state(self, i: int) -> EventState:
        turn = i // self.subscriptions
        return EventState(
            self.subscription_id(i % self.subscriptions),
            _STATUSES[turn % len(_STATUSES)],
            turn % 3 == 0,
            self.base_created + i - 3600 + 30 * 86400,
        )

    def __call__(self, i: int) -> tuple[bytes, str]:
        n = i % self.subscriptions
        created = self.base_created + i
        start = created - 3600
        sub = self.subscription_id(n)
        state = self.state(i)
        subscription = {
            "id": sub,
            "object": "subscription",
            "customer": f"cus_wh_{self.run_tag}_{n:05d}",
            "status": state.status,
            "created": self.base_created - 86400,
            "cancel_at_period_end": state.cancel_at_period_end,
            "canceled_at": None,
            "ended_at": None,
            "metadata": {"account_id": account_of(n)},
            "items": {
                "object": "list",
                "data": [
                    {
                        "id": f"si_{sub}",
                        "object": "subscription_item",
                        "current_period_start": start,
                        "current_period_end": state.current_period_end,
                        "price": {
                            "id": "price_bench_pro",
                            "object": "price",
                            "lookup_key": "paymentsvc_pro_monthly",
                        },
                        "quantity": 1,
                    }
                ],
            },
        }
        payload = json.dumps(
            {
                "id": event_id(self.run_tag, i),
                "object": "event",
                "type": "customer.subscription.updated",
                "created": created,
                "api_version": "2026-10-28.endive",
                "data": {"object": subscription},
                "livemode": False,
                "pending_webhooks": 1,
            },
            separators=(",", ":"),
        ).encode()
        return payload, sign(payload, self.secret, int(time.time()))
