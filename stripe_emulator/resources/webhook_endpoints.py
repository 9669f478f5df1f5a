"""/v1/webhook_endpoints

The signing secret is kept privately on the endpoint (the webhook dispatcher
signs with it) and shown only in the response that created it, as Stripe does.
"""

from __future__ import annotations

import re

from stripe_emulator.call import Call, Endpoint
from stripe_emulator.errors import StripeError
from stripe_emulator.jsontypes import JSON
from stripe_emulator.objects.lists import deleted
from stripe_emulator.objects.webhook import SECRET, webhook_endpoint
from stripe_emulator.pagination import paginate
from stripe_emulator.params import (
    BOOLEAN,
    METADATA,
    STRING,
    ListOf,
    Params,
    list_params,
    merged_metadata,
    obj,
)
from stripe_emulator.store import new_id

_EVENT_TYPE = re.compile(r"^(\*|[a-z_]+(\.[a-z_*]+)+)$")

CREATE = obj(
    url=STRING,
    enabled_events=ListOf(STRING),
    description=STRING,
    metadata=METADATA,
    api_version=STRING,
    connect=BOOLEAN,
)
UPDATE = obj(
    url=STRING,
    enabled_events=ListOf(STRING),
    description=STRING,
    metadata=METADATA,
    disabled=BOOLEAN,
)


def _enabled_events(p: Params) -> list[str]:
    events = p.strings("enabled_events")
    if not events:
        raise StripeError(
            "Missing required param: enabled_events.",
            code="parameter_missing",
            param="enabled_events",
        )
    for index, name in enumerate(events):
        if not _EVENT_TYPE.match(name):
            raise StripeError(f"Invalid event type: {name}", param=f"enabled_events[{index}]")
    return events


def _url(p: Params) -> str:
    url = p.require_string("url")
    if not url.startswith(("http://", "https://")):
        raise StripeError("Invalid URL: URL must be http or https.", param="url")
    return url


def create(call: Call) -> JSON:
    p = call.params
    endpoint = webhook_endpoint(
        new_id("we_"),
        call.now(),
        url=_url(p),
        enabled_events=_enabled_events(p),
        description=p.string("description"),
        api_version=p.string("api_version"),
        metadata=merged_metadata({}, p),
    )
    endpoint[SECRET] = new_id("whsec_", 32)
    call.store.insert(endpoint)
    return {**endpoint, "secret": endpoint[SECRET]}


def retrieve(call: Call) -> JSON:
    return call.store.require("webhook_endpoint", call.id)


def update(call: Call) -> JSON:
    p = call.params
    endpoint = call.store.require("webhook_endpoint", call.id)
    if p.has("url"):
        endpoint["url"] = _url(p)
    if p.has("enabled_events"):
        endpoint["enabled_events"] = _enabled_events(p)
    if p.has("description"):
        endpoint["description"] = p.string("description")
    if p.boolean("disabled") is not None:
        endpoint["status"] = "disabled" if p.boolean("disabled") else "enabled"
    endpoint["metadata"] = merged_metadata(endpoint["metadata"], p)
    return endpoint


def delete(call: Call) -> JSON:
    call.store.require("webhook_endpoint", call.id)
    call.store.delete("webhook_endpoint", call.id)
    return deleted(call.id, "webhook_endpoint")


def list_endpoints(call: Call) -> JSON:
    return paginate(
        call.store.newest_first("webhook_endpoint"), call.params, "/v1/webhook_endpoints"
    )


ENDPOINTS = [
    Endpoint("POST", "/v1/webhook_endpoints", CREATE, create),
    Endpoint("GET", "/v1/webhook_endpoints", list_params(), list_endpoints),
    Endpoint("GET", "/v1/webhook_endpoints/{id}", obj(), retrieve),
    Endpoint("POST", "/v1/webhook_endpoints/{id}", UPDATE, update),
    Endpoint("DELETE", "/v1/webhook_endpoints/{id}", obj(), delete),
]
