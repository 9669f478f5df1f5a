"""/v1/checkout/sessions, and completing a session as a paying customer would."""

from __future__ import annotations

import copy

from stripe_emulator import billing
from stripe_emulator.call import Call, Endpoint
from stripe_emulator.errors import StripeError
from stripe_emulator.events import AUTOMATIC
from stripe_emulator.jsontypes import JSON
from stripe_emulator.objects.checkout import (
    HOSTED,
    UI_MODES,
    checkout_session,
    customer_details,
    line_item,
)
from stripe_emulator.objects.customer import customer
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
    list_of,
    list_params,
    obj,
)
from stripe_emulator.state import EmulatorState
from stripe_emulator.store import new_id

SESSION_LIFETIME = 24 * 60 * 60
MIN_LIFETIME = 30 * 60

CREATE = obj(
    mode=enum("payment", "setup", "subscription"),
    customer=STRING,
    customer_email=STRING,
    customer_creation=enum("always", "if_required"),
    line_items=list_of(obj(price=STRING, quantity=INTEGER)),
    success_url=STRING,
    cancel_url=STRING,
    return_url=STRING,
    ui_mode=enum(*UI_MODES),
    client_reference_id=STRING,
    metadata=METADATA,
    subscription_data=obj(metadata=METADATA, trial_period_days=INTEGER, description=STRING),
    allow_promotion_codes=BOOLEAN,
    expires_at=INTEGER,
    locale=STRING,
    payment_method_types=ListOf(STRING),
    billing_address_collection=enum("auto", "required"),
    payment_method_collection=enum("always", "if_required"),
    currency=STRING,
)
LIST = list_params(
    customer=STRING,
    subscription=STRING,
    status=enum("complete", "expired", "open"),
    created=RANGE,
    client_reference_id=STRING,
)

# Emulator-private session fields: what to bill once the customer pays.
LINES = "_line_items"
LINE_ITEM_IDS = "_line_item_ids"
TRIAL_DAYS = "_trial_period_days"
SUBSCRIPTION_METADATA = "_subscription_metadata"


def create(call: Call) -> JSON:
    p, now = call.params, call.now()
    mode = p.require_string("mode")
    ui_mode = p.string("ui_mode") or HOSTED
    if ui_mode == HOSTED:
        p.require_string("success_url")
    customer_id, email = p.string("customer"), p.string("customer_email")
    if customer_id and email:
        raise StripeError(
            "You may only specify one of these parameters: customer, customer_email.",
            param="customer_email",
        )
    if customer_id:
        call.store.require("customer", customer_id, param="customer")
    lines = _line_items(call, mode)
    subscription_data = p.object("subscription_data") or Params({}, "subscription_data")
    trial_days = subscription_data.integer("trial_period_days")
    if trial_days is not None and not 1 <= trial_days <= 730:
        raise StripeError(
            "The trial period must be between 1 and 730 days.",
            param="subscription_data[trial_period_days]",
        )
    expires_at = p.integer("expires_at") or now + SESSION_LIFETIME
    if not now + MIN_LIFETIME <= expires_at <= now + SESSION_LIFETIME:
        raise StripeError(
            "The `expires_at` timestamp must be between 30 minutes and 24 hours "
            "from Checkout Session creation.",
            param="expires_at",
        )
    session_id = new_id("cs_test_", 58)
    session = checkout_session(
        session_id,
        now,
        mode=mode,
        url=f"{call.base_url}/checkout/pay/{session_id}",
        expires_at=expires_at,
        customer_id=customer_id,
        customer_email=email,
        currency=lines[0][0]["currency"] if lines else p.string("currency"),
        amount_total=sum(o["unit_amount"] * q for o, q in lines) if lines else None,
        success_url=p.string("success_url"),
        cancel_url=p.string("cancel_url"),
        client_reference_id=p.string("client_reference_id"),
        allow_promotion_codes=p.boolean("allow_promotion_codes"),
        ui_mode=ui_mode,
        return_url=p.string("return_url"),
        locale=p.string("locale"),
        metadata=dict(p.raw().get("metadata") or {}),
    )
    if p.string("customer_creation"):
        session["customer_creation"] = p.string("customer_creation")
    session[LINES] = [(o["id"], q) for o, q in lines]
    session[LINE_ITEM_IDS] = [new_id("li_") for _ in lines]
    session[TRIAL_DAYS] = trial_days
    session[SUBSCRIPTION_METADATA] = dict(subscription_data.raw().get("metadata") or {})
    return call.store.insert(session)


def _line_items(call: Call, mode: str) -> list[tuple[JSON, int]]:
    items = call.params.objects("line_items")
    if mode == "setup":
        if items:
            raise StripeError("You cannot pass `line_items` in `setup` mode.", param="line_items")
        return []
    if not items:
        raise StripeError(
            "Missing required param: line_items.", code="parameter_missing", param="line_items"
        )
    lines: list[tuple[JSON, int]] = []
    for item in items:
        price_param = item.name("price")
        found = call.store.require("price", item.require_string("price"), param=price_param)
        quantity = item.require_integer("quantity")
        if quantity < 1:
            raise StripeError("Quantity must be at least 1.", param=item.name("quantity"))
        if not found["active"]:
            raise StripeError(
                "The price specified is inactive. This field only accepts active prices.",
                param=price_param,
            )
        if mode == "subscription" and found["recurring"] is None:
            raise StripeError(
                "You must provide at least one recurring price in `subscription` mode "
                "when using prices.",
                param=price_param,
            )
        if mode == "payment" and found["recurring"] is not None:
            raise StripeError(
                "You specified `payment` mode but passed a recurring price. Either "
                "switch to `subscription` mode or use only one-time prices.",
                param=price_param,
            )
        lines.append((found, quantity))
    if mode == "subscription":
        billing.check_prices_compatible(
            [(found, item.name("price")) for (found, _), item in zip(lines, items, strict=True)]
        )
    return lines


def retrieve(call: Call) -> JSON:
    return expire_if_due(call.state, call.store.require("checkout.session", call.id))


def expire_if_due(state: EmulatorState, session: JSON) -> JSON:
    """Expire an open session whose `expires_at` the emulator clock has passed.

    Stripe expires sessions on its own; the emulator does it when a session
    is next looked at, so advancing the clock is enough to expire one.
    """
    if session["status"] == "open" and state.clock.now() >= session["expires_at"]:
        session["status"] = "expired"
        state.events.record("checkout.session.expired", session, AUTOMATIC)
    return session


def expire(call: Call) -> JSON:
    session = call.store.require("checkout.session", call.id)
    if session["status"] != "open":
        raise StripeError(
            'Only Checkout Sessions with a status in ["open"] can be expired. This '
            f'Checkout Session has a status of "{session["status"]}".'
        )
    session["status"] = "expired"
    call.events.record("checkout.session.expired", session, call.origin)
    return session


def list_sessions(call: Call) -> JSON:
    p = call.params

    def keep(o: JSON) -> bool:
        return all(
            p.string(field) is None or o[field] == p.string(field)
            for field in ("customer", "subscription", "status", "client_reference_id")
        ) and in_range(o["created"], p.range("created"))

    return paginate(call.store.newest_first("checkout.session"), p, "/v1/checkout/sessions", keep)


def complete(state: EmulatorState, session: JSON, payment_method: str | None = None) -> JSON:
    """Act out the customer paying on the hosted page (Stripe's side of it),
    with `payment_method` (a test payment method id) when one was given: it
    becomes the subscription's, and so decides how renewals go."""
    if expire_if_due(state, session)["status"] != "open":
        raise StripeError(
            f"Checkout Session {session['id']} has status {session['status']!r}; "
            "only open sessions can be completed."
        )
    store, origin = state.store, AUTOMATIC
    buyer = store.get("customer", session["customer"] or "")
    if buyer is None and (session["mode"] != "payment" or session["customer_creation"] == "always"):
        buyer = customer(
            new_id("cus_", 14),
            state.clock.now(),
            email=session["customer_email"],
            name=None,
            description=None,
            metadata={},
        )
        store.insert(buyer)
        state.events.record("customer.created", buyer, origin)
    lines = [(store.require("price", price_id), q) for price_id, q in session[LINES]]
    subscribing = session["mode"] == "subscription"
    sub_id = new_id("sub_") if subscribing else None
    free = session["mode"] == "setup" or (subscribing and bool(session[TRIAL_DAYS]))
    session.update(
        status="complete",
        payment_status="no_payment_required" if free else "paid",
        subscription=sub_id,
        customer=buyer["id"] if buyer else None,
        customer_details=customer_details(
            buyer["email"] if buyer else session["customer_email"],
            buyer["name"] if buyer else None,
        ),
    )
    state.events.record("checkout.session.completed", session, origin)
    if buyer is not None and sub_id is not None:
        billing.start_subscription(
            state,
            origin,
            customer=buyer,
            lines=lines,
            metadata=dict(session[SUBSCRIPTION_METADATA]),
            trial_days=session[TRIAL_DAYS],
            subscription_id=sub_id,
            default_payment_method=payment_method,
        )
    return session


def line_items(state: EmulatorState, session: JSON) -> list[JSON]:
    """The session's line items, with their prices as they are now."""
    items = []
    for item_id, (price_id, quantity) in zip(session[LINE_ITEM_IDS], session[LINES], strict=True):
        price_obj = state.store.require("price", price_id)
        product = state.store.get("product", price_obj["product"])
        description = product["name"] if product else price_obj["product"]
        items.append(line_item(item_id, copy.deepcopy(price_obj), quantity, description))
    return items


def list_line_items(call: Call) -> JSON:
    session = call.store.require("checkout.session", call.id)
    return paginate(
        line_items(call.state, session), call.params, f"/v1/checkout/sessions/{call.id}/line_items"
    )


ENDPOINTS = [
    Endpoint("POST", "/v1/checkout/sessions", CREATE, create),
    Endpoint("GET", "/v1/checkout/sessions", LIST, list_sessions),
    Endpoint("GET", "/v1/checkout/sessions/{id}", obj(), retrieve),
    Endpoint("POST", "/v1/checkout/sessions/{id}/expire", obj(), expire),
    Endpoint("GET", "/v1/checkout/sessions/{id}/line_items", list_params(), list_line_items),
]
