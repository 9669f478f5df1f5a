"""/v1/invoices"""

from __future__ import annotations

from stripe_emulator.call import Call, Endpoint
from stripe_emulator.jsontypes import JSON
from stripe_emulator.pagination import in_range, paginate
from stripe_emulator.params import RANGE, STRING, enum, list_params, obj

LIST = list_params(
    customer=STRING,
    subscription=STRING,
    status=enum("draft", "open", "paid", "uncollectible", "void"),
    created=RANGE,
    collection_method=enum("charge_automatically", "send_invoice"),
)


def retrieve(call: Call) -> JSON:
    return call.store.require("invoice", call.id)


def list_invoices(call: Call) -> JSON:
    p = call.params

    def keep(o: JSON) -> bool:
        details = o["parent"]["subscription_details"] or {}
        return (
            (p.string("customer") is None or o["customer"] == p.string("customer"))
            and (
                p.string("subscription") is None
                or details.get("subscription") == p.string("subscription")
            )
            and (p.string("status") is None or o["status"] == p.string("status"))
            and (
                p.string("collection_method") is None
                or o["collection_method"] == p.string("collection_method")
            )
            and in_range(o["created"], p.range("created"))
        )

    return paginate(call.store.newest_first("invoice"), p, "/v1/invoices", keep)


ENDPOINTS = [
    Endpoint("GET", "/v1/invoices", LIST, list_invoices),
    Endpoint("GET", "/v1/invoices/{id}", obj(), retrieve),
]
