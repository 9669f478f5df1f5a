"""Stripe events as the service receives them, and how their order is judged."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from billing_server.domain.errors import InvalidArgument

HANDLED_TYPES = frozenset(
    {
        "checkout.session.completed",
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "invoice.payment_succeeded",
        "invoice.payment_failed",
    }
)


@dataclass(frozen=True)
class StripeEvent:
    id: str
    type: str
    created: datetime
    object: dict[str, Any]
    payload: str


def parse_event(payload: bytes | str) -> StripeEvent:
    """Reads a Stripe event; anything that is not one is an InvalidArgument."""
    try:
        text = payload.decode("utf-8") if isinstance(payload, bytes) else payload
        data = json.loads(text)
    except (UnicodeDecodeError, ValueError):
        raise InvalidArgument("payload is not JSON", field="payload") from None
    if not isinstance(data, dict) or data.get("object") != "event":
        raise InvalidArgument("payload is not a Stripe event", field="payload")
    event_id, event_type, created = data.get("id"), data.get("type"), data.get("created")
    body = data.get("data")
    obj = body.get("object") if isinstance(body, dict) else None
    if (
        not isinstance(event_id, str)
        or not event_id.startswith("evt_")
        or len(event_id) > 255
        or not isinstance(event_type, str)
        or not 0 < len(event_type) <= 128
        or not isinstance(created, int)
        or isinstance(created, bool)
        or not isinstance(obj, dict)
    ):
        raise InvalidArgument("payload is not a well-formed Stripe event", field="payload")
    try:
        moment = datetime.fromtimestamp(created, UTC)
    except (OverflowError, OSError, ValueError):
        raise InvalidArgument("event `created` is out of range", field="payload") from None
    return StripeEvent(event_id, event_type, moment, obj, text)


class Freshness(enum.Enum):
    NEWER = "newer"
    # Stripe's `created` has one-second resolution: an event from the same
    # second as the recorded state may be older or newer than it.
    SAME_SECOND = "same_second"
    OLDER = "older"


def freshness(event_created: datetime, state_at: datetime | None) -> Freshness:
    """How an event compares with the recorded state (a lower bound on its time)."""
    if state_at is None:
        return Freshness.NEWER
    recorded_second = int(state_at.timestamp())
    event_second = int(event_created.timestamp())
    if event_second > recorded_second:
        return Freshness.NEWER
    if event_second == recorded_second:
        return Freshness.SAME_SECOND
    return Freshness.OLDER
