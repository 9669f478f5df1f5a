"""/v1/customers"""

from __future__ import annotations

from stripe_emulator.call import Call, Endpoint
from stripe_emulator.clocks import TEST_CLOCK
from stripe_emulator.jsontypes import JSON
from stripe_emulator.objects.customer import customer
from stripe_emulator.pagination import in_range, paginate
from stripe_emulator.params import METADATA, RANGE, STRING, list_params, merged_metadata, obj
from stripe_emulator.store import new_id

_FIELDS = {"email": STRING, "name": STRING, "description": STRING, "phone": STRING}
# The default payment method decides whether invoices are paid: Stripe's
# failing test payment methods (pm_card_chargeCustomerFail) fail them.
_INVOICE_SETTINGS = obj(default_payment_method=STRING)
CREATE = obj(**_FIELDS, metadata=METADATA, invoice_settings=_INVOICE_SETTINGS, test_clock=STRING)
UPDATE = obj(**_FIELDS, metadata=METADATA, invoice_settings=_INVOICE_SETTINGS)
LIST = list_params(email=STRING, created=RANGE, test_clock=STRING)


def create(call: Call) -> JSON:
    p = call.params
    clock_id = p.string("test_clock")
    clock = call.store.require(TEST_CLOCK, clock_id, param="test_clock") if clock_id else None
    created = customer(
        new_id("cus_", 14),
        clock["frozen_time"] if clock else call.now(),
        email=p.string("email"),
        name=p.string("name"),
        description=p.string("description"),
        metadata=merged_metadata({}, p),
        test_clock=clock_id,
    )
    created["phone"] = p.string("phone")
    _apply_invoice_settings(call, created)
    call.store.insert(created)
    call.events.record("customer.created", created, call.origin)
    return created


def retrieve(call: Call) -> JSON:
    return call.store.require("customer", call.id)


def update(call: Call) -> JSON:
    found = call.store.require("customer", call.id)
    before = call.events.snapshot(found)
    for field in _FIELDS:
        if call.params.has(field):
            found[field] = call.params.string(field)
    found["metadata"] = merged_metadata(found["metadata"], call.params)
    _apply_invoice_settings(call, found)
    call.events.record_update("customer.updated", found, before, call.origin)
    return found


def _apply_invoice_settings(call: Call, found: JSON) -> None:
    settings = call.params.object("invoice_settings")
    if settings is not None and settings.has("default_payment_method"):
        found["invoice_settings"]["default_payment_method"] = settings.string(
            "default_payment_method"
        )


def list_customers(call: Call) -> JSON:
    p = call.params
    email = p.string("email")
    return paginate(
        call.store.newest_first("customer"),
        p,
        "/v1/customers",
        keep=lambda c: (
            (email is None or c["email"] == email)
            and p.string("test_clock") in (None, c["test_clock"])
            and in_range(c["created"], p.range("created"))
        ),
    )


ENDPOINTS = [
    Endpoint("POST", "/v1/customers", CREATE, create),
    Endpoint("GET", "/v1/customers", LIST, list_customers),
    Endpoint("GET", "/v1/customers/{id}", obj(), retrieve),
    Endpoint("POST", "/v1/customers/{id}", UPDATE, update),
]
