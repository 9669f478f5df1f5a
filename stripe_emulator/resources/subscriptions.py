"""/v1/subscriptions"""

from __future__ import annotations

import copy

from stripe_emulator import billing, clocks
from stripe_emulator.call import Call, Endpoint
from stripe_emulator.errors import StripeError, resource_missing
from stripe_emulator.jsontypes import JSON
from stripe_emulator.objects.subscription import subscription_item
from stripe_emulator.pagination import in_range, paginate
from stripe_emulator.params import (
    BOOLEAN,
    INTEGER,
    METADATA,
    RANGE,
    STRING,
    enum,
    list_of,
    list_params,
    merged_metadata,
    obj,
)
from stripe_emulator.store import new_id

_PAYMENT_BEHAVIOR = enum(
    "allow_incomplete", "default_incomplete", "error_if_incomplete", "pending_if_incomplete"
)
_PRORATION = enum("always_invoice", "create_prorations", "none")
_FEEDBACK = enum(
    "customer_service",
    "low_quality",
    "missing_features",
    "other",
    "switched_service",
    "too_complex",
    "too_expensive",
    "unused",
)
_DETAILS = obj(comment=STRING, feedback=_FEEDBACK)

CREATE = obj(
    customer=STRING,
    items=list_of(obj(price=STRING, quantity=INTEGER, metadata=METADATA)),
    metadata=METADATA,
    trial_period_days=INTEGER,
    payment_behavior=_PAYMENT_BEHAVIOR,
    default_payment_method=STRING,
    description=STRING,
    cancel_at=INTEGER,
    cancel_at_period_end=BOOLEAN,
)
UPDATE = obj(
    items=list_of(
        obj(
            id=STRING,
            price=STRING,
            quantity=INTEGER,
            deleted=BOOLEAN,
            metadata=METADATA,
            clear_usage=BOOLEAN,
        )
    ),
    proration_behavior=_PRORATION,
    proration_date=INTEGER,
    cancel_at_period_end=BOOLEAN,
    cancel_at=INTEGER,
    metadata=METADATA,
    payment_behavior=_PAYMENT_BEHAVIOR,
    cancellation_details=_DETAILS,
    description=STRING,
    default_payment_method=STRING,
)
CANCEL = obj(invoice_now=BOOLEAN, prorate=BOOLEAN, cancellation_details=_DETAILS)
_STATUSES = (
    "active",
    "all",
    "canceled",
    "ended",
    "incomplete",
    "incomplete_expired",
    "past_due",
    "paused",
    "trialing",
    "unpaid",
)
LIST = list_params(
    customer=STRING,
    price=STRING,
    status=enum(*_STATUSES),
    created=RANGE,
    current_period_end=RANGE,
    current_period_start=RANGE,
    test_clock=STRING,
)
# What a canceled subscription still accepts, as Stripe allows.
_CANCELED_UPDATABLE = {"metadata", "cancellation_details", "expand"}


def retrieve(call: Call) -> JSON:
    return call.store.require("subscription", call.id)


def create(call: Call) -> JSON:
    p = call.params
    buyer = call.store.require("customer", p.require_string("customer"), param="customer")
    items = p.objects("items")
    if not items:
        raise StripeError("Missing required param: items.", code="parameter_missing", param="items")
    lines = [
        (
            call.store.require("price", item.require_string("price"), param=item.name("price")),
            item.integer("quantity") or 1,
        )
        for item in items
    ]
    billing.check_prices_compatible(
        [(o, item.name("price")) for (o, _), item in zip(lines, items, strict=True)]
    )
    if p.boolean("cancel_at_period_end") and p.integer("cancel_at") is not None:
        raise _both_cancellations()
    sub = billing.start_subscription(
        call.state,
        call.origin,
        customer=buyer,
        lines=lines,
        metadata=merged_metadata({}, p),
        trial_days=p.integer("trial_period_days"),
        cancel_at=p.integer("cancel_at"),
        cancel_at_period_end=p.boolean("cancel_at_period_end") is True,
    )
    if p.string("default_payment_method"):
        sub["default_payment_method"] = p.string("default_payment_method")
    return sub


def _both_cancellations() -> StripeError:
    return StripeError(
        "You may only specify one of these parameters: cancel_at, cancel_at_period_end.",
        param="cancel_at",
    )


def update(call: Call) -> JSON:
    stored = call.store.require("subscription", call.id)
    with call.state.clock.frozen_at(clocks.clock_time(call.state, stored["customer"])):
        return _update(call, stored)


def _update(call: Call, stored: JSON) -> JSON:
    p = call.params
    if stored["status"] == "canceled" and not p.keys() <= _CANCELED_UPDATABLE:
        raise StripeError(
            "A canceled subscription can only update its cancellation_details and metadata."
        )
    before = call.events.snapshot(stored)
    # Changes apply to a copy that replaces the stored subscription only once
    # every parameter has been accepted: a rejected update changes nothing.
    sub = copy.deepcopy(stored)
    old_amounts = {i["id"]: i["price"]["unit_amount"] * i["quantity"] for i in sub["items"]["data"]}
    old_recurring = sub["items"]["data"][0]["price"]["recurring"]
    _apply_items(call, sub)
    new_recurring = sub["items"]["data"][0]["price"]["recurring"]
    interval_changed = (old_recurring["interval"], old_recurring["interval_count"]) != (
        new_recurring["interval"],
        new_recurring["interval_count"],
    )
    if interval_changed:
        # A new interval restarts the billing cycle now, billed at once.
        sub["billing_cycle_anchor"], sub[billing.CYCLE] = call.now(), 0
        billing.set_period(sub, billing.cycle_period(sub, 0))
    _apply_cancellation(call, sub)
    sub["metadata"] = merged_metadata(sub["metadata"], p)
    for field in ("description", "default_payment_method"):
        if p.has(field):
            sub[field] = p.string(field)
    behavior = p.string("proration_behavior") or "create_prorations"
    invoice_amounts = None if interval_changed else _prorations(call, sub, old_amounts)
    invoicing = interval_changed or (behavior == "always_invoice" and invoice_amounts)
    invoice_id = new_id("in_")
    if invoicing:
        sub["latest_invoice"] = invoice_id
    call.store.insert(sub)
    call.events.record_update("customer.subscription.updated", sub, before, call.origin)
    if invoicing:
        billing.issue_invoice(
            call.state,
            call.origin,
            sub,
            invoice_id=invoice_id,
            reason="subscription_update",
            invoice_period=(call.now(), call.now()),
            line_period=billing.current_period(sub),
            succeeded=True,
            amounts=invoice_amounts,
        )
    return sub


def _apply_items(call: Call, sub: JSON) -> None:
    items: list[JSON] = sub["items"]["data"]
    for change in call.params.objects("items"):
        item_id = change.string("id")
        item = next((i for i in items if i["id"] == item_id), None)
        if item_id is not None and item is None:
            raise resource_missing("subscription_item", item_id, change.name("id"))
        if change.boolean("deleted"):
            if item is None:
                raise StripeError(
                    "An item id is required to delete an item.", param=change.name("id")
                )
            items.remove(item)
            continue
        price_id = change.string("price")
        new_price = (
            call.store.require("price", price_id, param=change.name("price")) if price_id else None
        )
        if item is None:
            if new_price is None:
                raise StripeError(
                    "Missing required param: price.",
                    code="parameter_missing",
                    param=change.name("price"),
                )
            item = subscription_item(
                new_id("si_", 14),
                call.now(),
                subscription_id=sub["id"],
                price_obj=copy.deepcopy(new_price),
                quantity=1,
                period=billing.current_period(sub),
            )
            items.append(item)
        elif new_price is not None:
            item["price"] = copy.deepcopy(new_price)
        if change.integer("quantity") is not None:
            item["quantity"] = change.integer("quantity")
    if not items:
        raise StripeError("A subscription must have at least one active item.", param="items")
    billing.check_prices_compatible(
        [(i["price"], f"items[{n}][price]") for n, i in enumerate(items)]
    )


def _apply_cancellation(call: Call, sub: JSON) -> None:
    p, details = call.params, sub["cancellation_details"]
    at_period_end = p.boolean("cancel_at_period_end")
    if at_period_end is True and p.integer("cancel_at") is not None:
        raise _both_cancellations()
    if at_period_end is True or p.integer("cancel_at") is not None:
        billing.schedule_cancellation(
            sub, p.integer("cancel_at"), at_period_end=at_period_end is True, now=call.now()
        )
    elif at_period_end is False or (p.has("cancel_at") and p.integer("cancel_at") is None):
        sub.update(cancel_at_period_end=False, cancel_at=None, canceled_at=None)
        details["reason"] = None
    cancellation = p.object("cancellation_details")
    if cancellation is not None:
        for field in ("comment", "feedback"):
            if cancellation.has(field):
                details[field] = cancellation.string(field)


def _prorations(call: Call, sub: JSON, old_amounts: dict[str, int]) -> dict[str, int] | None:
    """Amounts owed for the rest of the period on items whose price changed."""
    start, end = billing.current_period(sub)
    remaining = max(0.0, (end - call.now()) / max(1, end - start))
    amounts = {}
    for item in sub["items"]["data"]:
        new = item["price"]["unit_amount"] * item["quantity"]
        if new != old_amounts.get(item["id"], 0):
            amounts[item["id"]] = round((new - old_amounts.get(item["id"], 0)) * remaining)
    return amounts or None


def cancel(call: Call) -> JSON:
    sub = call.store.require("subscription", call.id)
    if sub["status"] == "canceled":
        # Stripe treats a canceled subscription as deleted for this call.
        raise resource_missing("subscription", sub["id"])
    details = call.params.object("cancellation_details")
    with call.state.clock.frozen_at(clocks.clock_time(call.state, sub["customer"])):
        return billing.end(
            call.state,
            call.origin,
            sub,
            comment=details.string("comment") if details else None,
            feedback=details.string("feedback") if details else None,
        )


def list_subscriptions(call: Call) -> JSON:
    p = call.params
    status = p.string("status")

    def status_matches(o: JSON) -> bool:
        if status is None:
            return bool(o["status"] not in ("canceled", "incomplete_expired"))
        if status == "ended":
            return bool(o["status"] in ("canceled", "incomplete_expired"))
        return status == "all" or o["status"] == status

    def keep(o: JSON) -> bool:
        item = o["items"]["data"][0]
        return (
            status_matches(o)
            and (p.string("customer") is None or o["customer"] == p.string("customer"))
            and (
                p.string("price") is None
                or any(i["price"]["id"] == p.string("price") for i in o["items"]["data"])
            )
            and p.string("test_clock") in (None, o["test_clock"])
            and in_range(o["created"], p.range("created"))
            and in_range(item["current_period_end"], p.range("current_period_end"))
            and in_range(item["current_period_start"], p.range("current_period_start"))
        )

    return paginate(call.store.newest_first("subscription"), p, "/v1/subscriptions", keep)


ENDPOINTS = [
    Endpoint("POST", "/v1/subscriptions", CREATE, create),
    Endpoint("GET", "/v1/subscriptions", LIST, list_subscriptions),
    Endpoint("GET", "/v1/subscriptions/{id}", obj(), retrieve),
    Endpoint("POST", "/v1/subscriptions/{id}", UPDATE, update),
    Endpoint("DELETE", "/v1/subscriptions/{id}", CANCEL, cancel),
]
