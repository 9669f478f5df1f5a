"""/v1/events"""

from __future__ import annotations

from stripe_emulator.call import Call, Endpoint
from stripe_emulator.errors import StripeError
from stripe_emulator.jsontypes import JSON
from stripe_emulator.pagination import in_range, paginate
from stripe_emulator.params import BOOLEAN, RANGE, STRING, ListOf, list_params, obj

LIST = list_params(type=STRING, types=ListOf(STRING), created=RANGE, delivery_success=BOOLEAN)


def retrieve(call: Call) -> JSON:
    return call.store.require("event", call.id)


def _type_matches(pattern: str, event_type: str) -> bool:
    # Stripe accepts one trailing wildcard: `type=invoice.*`.
    if pattern.endswith("*"):
        return event_type.startswith(pattern[:-1])
    return pattern == event_type


def list_events(call: Call) -> JSON:
    p = call.params
    single, types = p.string("type"), p.strings("types")
    if single and types:
        raise StripeError(
            "You may only specify one of these parameters: type, types.", param="types"
        )
    patterns = [single] if single else types
    delivered = p.boolean("delivery_success")

    def keep(o: JSON) -> bool:
        return (
            (not patterns or any(_type_matches(t, o["type"]) for t in patterns))
            and in_range(o["created"], p.range("created"))
            and (delivered is None or (o["pending_webhooks"] == 0) == delivered)
        )

    return paginate(call.store.newest_first("event"), p, "/v1/events", keep)


ENDPOINTS = [
    Endpoint("GET", "/v1/events", LIST, list_events),
    Endpoint("GET", "/v1/events/{id}", obj(), retrieve),
]
