"""/v1/products"""

from __future__ import annotations

from stripe_emulator.call import Call, Endpoint
from stripe_emulator.errors import StripeError
from stripe_emulator.jsontypes import JSON
from stripe_emulator.objects.catalog import product
from stripe_emulator.pagination import in_range, paginate
from stripe_emulator.params import (
    BOOLEAN,
    METADATA,
    RANGE,
    STRING,
    ListOf,
    Spec,
    list_params,
    merged_metadata,
    obj,
)
from stripe_emulator.store import new_id

_FIELDS: dict[str, Spec] = {
    "name": STRING,
    "description": STRING,
    "active": BOOLEAN,
    "metadata": METADATA,
}
CREATE = obj(id=STRING, **_FIELDS)
UPDATE = obj(**_FIELDS)
LIST = list_params(active=BOOLEAN, created=RANGE, ids=ListOf(STRING))


def create(call: Call) -> JSON:
    p = call.params
    product_id = p.string("id") or new_id("prod_", 14)
    if call.store.get("product", product_id) is not None:
        raise StripeError("Product already exists.", code="resource_already_exists", param="id")
    created = product(
        product_id,
        call.now(),
        name=p.require_string("name"),
        description=p.string("description"),
        active=p.boolean("active") is not False,
        metadata=merged_metadata({}, p),
    )
    call.store.insert(created)
    call.events.record("product.created", created, call.origin)
    return created


def retrieve(call: Call) -> JSON:
    return call.store.require("product", call.id)


def update(call: Call) -> JSON:
    p = call.params
    found = call.store.require("product", call.id)
    before = call.events.snapshot(found)
    if p.has("name"):
        found["name"] = p.require_string("name")
    if p.has("description"):
        found["description"] = p.string("description")
    if p.boolean("active") is not None:
        found["active"] = p.boolean("active")
    found["metadata"] = merged_metadata(found["metadata"], p)
    found["updated"] = call.now()
    call.events.record_update("product.updated", found, before, call.origin)
    return found


def list_products(call: Call) -> JSON:
    p = call.params
    active, ids = p.boolean("active"), p.strings("ids")
    return paginate(
        call.store.newest_first("product"),
        p,
        "/v1/products",
        keep=lambda o: (
            (active is None or o["active"] == active)
            and (not ids or o["id"] in ids)
            and in_range(o["created"], p.range("created"))
        ),
    )


ENDPOINTS = [
    Endpoint("POST", "/v1/products", CREATE, create),
    Endpoint("GET", "/v1/products", LIST, list_products),
    Endpoint("GET", "/v1/products/{id}", obj(), retrieve),
    Endpoint("POST", "/v1/products/{id}", UPDATE, update),
]
