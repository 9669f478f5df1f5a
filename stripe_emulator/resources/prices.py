"""/v1/prices

Lookup keys are unique across active and inactive prices; reusing one is an
error unless `transfer_lookup_key=true`, which moves it off the old price.
"""

from __future__ import annotations

from stripe_emulator.call import Call, Endpoint
from stripe_emulator.errors import StripeError
from stripe_emulator.jsontypes import JSON
from stripe_emulator.objects.catalog import price, product, recurring
from stripe_emulator.pagination import in_range, paginate
from stripe_emulator.params import (
    BOOLEAN,
    INTEGER,
    METADATA,
    RANGE,
    STRING,
    ListOf,
    Params,
    enum,
    list_params,
    merged_metadata,
    obj,
)
from stripe_emulator.periods import INTERVALS
from stripe_emulator.store import new_id

_TAX = enum("exclusive", "inclusive", "unspecified")
CREATE = obj(
    currency=STRING,
    product=STRING,
    unit_amount=INTEGER,
    unit_amount_decimal=STRING,
    product_data=obj(name=STRING, active=BOOLEAN, metadata=METADATA, statement_descriptor=STRING),
    recurring=obj(
        interval=enum(*INTERVALS),
        interval_count=INTEGER,
        usage_type=enum("licensed", "metered"),
        trial_period_days=INTEGER,
    ),
    lookup_key=STRING,
    transfer_lookup_key=BOOLEAN,
    nickname=STRING,
    metadata=METADATA,
    active=BOOLEAN,
    tax_behavior=_TAX,
    billing_scheme=enum("per_unit"),
)
UPDATE = obj(
    active=BOOLEAN,
    lookup_key=STRING,
    transfer_lookup_key=BOOLEAN,
    metadata=METADATA,
    nickname=STRING,
    tax_behavior=_TAX,
)
LIST = list_params(
    active=BOOLEAN,
    currency=STRING,
    product=STRING,
    type=enum("one_time", "recurring"),
    lookup_keys=ListOf(STRING),
    created=RANGE,
    recurring=obj(interval=enum(*INTERVALS)),
)


def create(call: Call) -> JSON:
    p = call.params
    currency = p.require_string("currency").lower()
    unit_amount = _unit_amount(p)
    rec = p.object("recurring")
    interval_count = (rec.integer("interval_count") or 1) if rec else 1
    if rec is not None and not 1 <= interval_count <= 365:
        raise StripeError("Invalid interval_count", param="recurring[interval_count]")
    interval = rec.require_string("interval") if rec else None
    product_id = _product_for(call)
    lookup_key = p.string("lookup_key")
    price_id = new_id("price_")
    if lookup_key is not None:
        _claim_lookup_key(call, lookup_key, price_id)
    created = price(
        price_id,
        call.now(),
        product_id=product_id,
        currency=currency,
        unit_amount=unit_amount,
        recurring=recurring(interval, interval_count) if interval else None,
        lookup_key=lookup_key,
        nickname=p.string("nickname"),
        active=p.boolean("active") is not False,
        metadata=merged_metadata({}, p),
    )
    created["tax_behavior"] = p.string("tax_behavior") or "unspecified"
    call.store.insert(created)
    call.events.record("price.created", created, call.origin)
    return created


def _product_for(call: Call) -> str:
    p = call.params
    data = p.object("product_data")
    if p.has("product") and data is not None:
        raise StripeError(
            "You may only specify one of these parameters: product, product_data.",
            param="product_data",
        )
    if data is None:
        product_id = p.require_string("product")
        call.store.require("product", product_id, param="product")
        return product_id
    created = product(
        new_id("prod_", 14),
        call.now(),
        name=data.require_string("name"),
        description=None,
        active=data.boolean("active") is not False,
        metadata=merged_metadata({}, data),
    )
    call.store.insert(created)
    call.events.record("product.created", created, call.origin)
    return str(created["id"])


def _unit_amount(p: Params) -> int:
    if p.has("unit_amount"):
        amount = p.require_integer("unit_amount")
    elif p.has("unit_amount_decimal"):
        try:
            amount = int(p.require_string("unit_amount_decimal"))
        except ValueError:
            raise StripeError(
                "The emulator supports whole-cent unit_amount_decimal only.",
                param="unit_amount_decimal",
            ) from None
    else:
        raise StripeError(
            "Missing required param: unit_amount.", code="parameter_missing", param="unit_amount"
        )
    if amount < 0:
        raise StripeError("Invalid non-negative integer", param="unit_amount")
    return amount


def _claim_lookup_key(call: Call, lookup_key: str, price_id: str) -> None:
    holder = next(
        (o for o in call.store.newest_first("price") if o["lookup_key"] == lookup_key), None
    )
    if holder is None or holder["id"] == price_id:
        return
    if not call.params.boolean("transfer_lookup_key"):
        raise StripeError(
            f"A price (`{holder['id']}`) already uses that lookup key.", param="lookup_key"
        )
    before = call.events.snapshot(holder)
    holder["lookup_key"] = None
    call.events.record_update("price.updated", holder, before, call.origin)


def retrieve(call: Call) -> JSON:
    return call.store.require("price", call.id)


def update(call: Call) -> JSON:
    p = call.params
    found = call.store.require("price", call.id)
    before = call.events.snapshot(found)
    if p.has("tax_behavior"):
        found["tax_behavior"] = p.require_string("tax_behavior")
    if p.has("nickname"):
        found["nickname"] = p.string("nickname")
    if p.has("lookup_key"):
        lookup_key = p.string("lookup_key")
        if lookup_key is not None:
            _claim_lookup_key(call, lookup_key, found["id"])
        found["lookup_key"] = lookup_key
    if p.boolean("active") is not None:
        found["active"] = p.boolean("active")
    found["metadata"] = merged_metadata(found["metadata"], p)
    call.events.record_update("price.updated", found, before, call.origin)
    return found


def list_prices(call: Call) -> JSON:
    p = call.params
    lookup_keys = p.strings("lookup_keys")
    if len(lookup_keys) > 10:
        raise StripeError("You may pass at most 10 lookup_keys.", param="lookup_keys")
    rec = p.object("recurring")
    interval = rec.string("interval") if rec else None

    def keep(o: JSON) -> bool:
        return (
            (p.boolean("active") is None or o["active"] == p.boolean("active"))
            and (p.string("currency") is None or o["currency"] == p.string("currency"))
            and (p.string("product") is None or o["product"] == p.string("product"))
            and (p.string("type") is None or o["type"] == p.string("type"))
            and (not lookup_keys or o["lookup_key"] in lookup_keys)
            and (interval is None or (o["recurring"] or {}).get("interval") == interval)
            and in_range(o["created"], p.range("created"))
        )

    return paginate(call.store.newest_first("price"), p, "/v1/prices", keep)


ENDPOINTS = [
    Endpoint("POST", "/v1/prices", CREATE, create),
    Endpoint("GET", "/v1/prices", LIST, list_prices),
    Endpoint("GET", "/v1/prices/{id}", obj(), retrieve),
    Endpoint("POST", "/v1/prices/{id}", UPDATE, update),
]
