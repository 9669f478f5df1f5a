"""The subscription lifecycle: start, invoice, renew, cancel.

These are shared by the API endpoints and the test-helper endpoints that act
out what Stripe does on its own (a customer paying, a renewal). Each records
its events in the order Stripe sends them.
"""

from __future__ import annotations

import copy

from stripe_emulator import clocks
from stripe_emulator.errors import StripeError
from stripe_emulator.events import Origin
from stripe_emulator.jsontypes import JSON
from stripe_emulator.objects.invoice import invoice, invoice_line
from stripe_emulator.objects.subscription import subscription, subscription_item
from stripe_emulator.periods import days, period
from stripe_emulator.state import EmulatorState
from stripe_emulator.store import new_id

# Days after an invoice's first failed attempt on which its payment is
# retried; once the last retry fails, dunning ends (see `dunning.py`).
RETRY_SCHEDULE_DAYS = (3, 5, 7)
TIMES = "\u00d7"  # Stripe writes line descriptions as "1 \u00d7 Pro (at ...)"
LIVE_STATUSES = ("active", "trialing", "past_due", "unpaid", "incomplete")

# Emulator-private subscription field: which billing cycle the items are in
# (-1 while trialing), counted from `billing_cycle_anchor`.
CYCLE = "_cycle"


def check_prices_compatible(prices: list[tuple[JSON, str]]) -> None:
    """Stripe requires one currency and one interval across a subscription."""
    first = prices[0][0]
    for price_obj, param in prices:
        if price_obj["recurring"] is None:
            raise StripeError(
                "The price specified is set to `type=one_time` but this field "
                "only accepts prices with `type=recurring`.",
                param=param,
            )
        if (
            price_obj["currency"] != first["currency"]
            or price_obj["recurring"]["interval"] != first["recurring"]["interval"]
            or price_obj["recurring"]["interval_count"] != first["recurring"]["interval_count"]
        ):
            raise StripeError(
                "Currency and interval fields must match across all plans on this subscription.",
                param=param,
            )


def current_period(sub: JSON) -> tuple[int, int]:
    item = sub["items"]["data"][0]
    return item["current_period_start"], item["current_period_end"]


def cycle_period(sub: JSON, cycle: int) -> tuple[int, int]:
    recurring = sub["items"]["data"][0]["price"]["recurring"]
    return period(
        sub["billing_cycle_anchor"], recurring["interval"], recurring["interval_count"], cycle
    )


def set_period(sub: JSON, span: tuple[int, int]) -> None:
    for item in sub["items"]["data"]:
        item["current_period_start"], item["current_period_end"] = span


def start_subscription(
    state: EmulatorState,
    origin: Origin,
    *,
    customer: JSON,
    lines: list[tuple[JSON, int]],
    metadata: dict[str, str],
    trial_days: int | None,
    subscription_id: str | None = None,
    cancel_at: int | None = None,
    cancel_at_period_end: bool = False,
    default_payment_method: str | None = None,
) -> JSON:
    """Create a subscription whose first invoice is paid at once, at the
    time of the customer's test clock if it is on one."""
    with state.clock.frozen_at(clocks.clock_time(state, customer["id"])):
        return _start(
            state,
            origin,
            customer=customer,
            lines=lines,
            metadata=metadata,
            trial_days=trial_days,
            subscription_id=subscription_id,
            cancel_at=cancel_at,
            cancel_at_period_end=cancel_at_period_end,
            default_payment_method=default_payment_method,
        )


def _start(
    state: EmulatorState,
    origin: Origin,
    *,
    customer: JSON,
    lines: list[tuple[JSON, int]],
    metadata: dict[str, str],
    trial_days: int | None,
    subscription_id: str | None,
    cancel_at: int | None,
    cancel_at_period_end: bool,
    default_payment_method: str | None,
) -> JSON:
    now = state.clock.now()
    sub_id = subscription_id or new_id("sub_")
    recurring = lines[0][0]["recurring"]
    trial = (now, now + days(trial_days)) if trial_days else None
    anchor = trial[1] if trial else now
    span = trial or period(anchor, recurring["interval"], recurring["interval_count"], 0)
    items = [
        subscription_item(
            new_id("si_", 14),
            now,
            subscription_id=sub_id,
            price_obj=copy.deepcopy(price_obj),
            quantity=quantity,
            period=span,
        )
        for price_obj, quantity in lines
    ]
    sub = subscription(
        sub_id,
        now,
        customer_id=customer["id"],
        items=items,
        currency=lines[0][0]["currency"],
        status="trialing" if trial else "active",
        billing_cycle_anchor=anchor,
        trial=trial,
        metadata=metadata,
    )
    sub[CYCLE] = -1 if trial else 0
    sub["test_clock"] = customer["test_clock"]
    sub["default_payment_method"] = default_payment_method
    if cancel_at_period_end or cancel_at is not None:
        schedule_cancellation(sub, cancel_at, at_period_end=cancel_at_period_end, now=now)
    invoice_id = new_id("in_")
    sub["latest_invoice"] = invoice_id
    state.store.insert(sub)
    state.events.record("customer.subscription.created", sub, origin)
    issue_invoice(
        state,
        origin,
        sub,
        invoice_id=invoice_id,
        reason="subscription_create",
        invoice_period=(now, now),
        line_period=span,
        succeeded=True,
        free=trial is not None,
    )
    return sub


def schedule_cancellation(
    sub: JSON, cancel_at: int | None, *, at_period_end: bool, now: int
) -> None:
    """Have `sub` end at `cancel_at`, or at the end of its period."""
    if cancel_at is not None and cancel_at <= now:
        raise StripeError("cancel_at must be in the future.", param="cancel_at")
    sub["cancel_at_period_end"] = at_period_end
    sub["cancel_at"] = current_period(sub)[1] if at_period_end else cancel_at
    sub["canceled_at"] = now
    sub["cancellation_details"]["reason"] = "cancellation_requested"


def issue_invoice(
    state: EmulatorState,
    origin: Origin,
    sub: JSON,
    *,
    reason: str,
    invoice_period: tuple[int, int],
    line_period: tuple[int, int],
    succeeded: bool,
    invoice_id: str | None = None,
    free: bool = False,
    amounts: dict[str, int] | None = None,
) -> JSON:
    """Finalize an invoice for `sub` and attempt its payment once.

    `amounts` (by subscription item id) overrides the full-period amounts,
    e.g. for proration invoices.
    """
    store, now = state.store, state.clock.now()
    customer = store.require("customer", sub["customer"])
    invoice_id = invoice_id or new_id("in_")
    lines = []
    for item in sub["items"]["data"]:
        full = item["price"]["unit_amount"] * item["quantity"]
        amount = 0 if free else (amounts or {}).get(item["id"], full)
        lines.append(
            invoice_line(
                new_id("il_"),
                invoice_id=invoice_id,
                subscription_id=sub["id"],
                item=item,
                amount=amount,
                period=line_period,
                description=_describe(store.get("product", item["price"]["product"]), item, free),
                proration=amounts is not None,
            )
        )
    number = f"{customer['invoice_prefix']}-{customer['next_invoice_sequence']:04d}"
    customer["next_invoice_sequence"] += 1
    inv = store.insert(
        invoice(
            invoice_id,
            now,
            customer=customer,
            subscription=sub,
            lines=lines,
            billing_reason=reason,
            period=invoice_period,
            number=number,
        )
    )
    sub["latest_invoice"] = invoice_id
    state.events.record("invoice.created", inv, origin)
    inv["attempted"] = True
    if succeeded:
        mark_paid(state, origin, inv, attempts=1 if inv["amount_due"] else 0)
    else:
        record_failed_attempt(state, origin, inv)
    return inv


def mark_paid(state: EmulatorState, origin: Origin, inv: JSON, *, attempts: int) -> None:
    inv.update(
        status="paid",
        amount_paid=inv["amount_due"],
        amount_remaining=0,
        attempt_count=attempts,
        next_payment_attempt=None,
    )
    inv["status_transitions"]["paid_at"] = state.clock.now()
    state.events.record("invoice.paid", inv, origin)
    state.events.record("invoice.payment_succeeded", inv, origin)


def record_failed_attempt(state: EmulatorState, origin: Origin, inv: JSON) -> None:
    """One more failed attempt; the next is scheduled while retries remain."""
    inv["attempt_count"] += 1
    retries_done = inv["attempt_count"] - 1
    inv["next_payment_attempt"] = (
        inv["created"] + days(RETRY_SCHEDULE_DAYS[retries_done])
        if retries_done < len(RETRY_SCHEDULE_DAYS)
        else None
    )
    state.events.record("invoice.payment_failed", inv, origin)


def _describe(product: JSON | None, item: JSON, free: bool) -> str:
    name = product["name"] if product else item["price"]["product"]
    if free:
        return f"Trial period for {name}"
    price_obj = item["price"]
    amount = price_obj["unit_amount"] / 100
    interval = price_obj["recurring"]["interval"]
    return (
        f"{item['quantity']} {TIMES} {name} (at {amount:.2f} {price_obj['currency']} / {interval})"
    )


def renew(state: EmulatorState, origin: Origin, sub: JSON, succeeded: bool) -> JSON:
    """Act out the end of the current period: renew, fail to collect, or end."""
    if sub["status"] not in LIVE_STATUSES:
        raise StripeError(f"Subscription {sub['id']} is {sub['status']} and cannot renew.")
    cancel_at = sub["cancel_at"]
    if sub["cancel_at_period_end"] or (cancel_at and cancel_at <= current_period(sub)[1]):
        return end(state, origin, sub)
    before = state.events.snapshot(sub)
    ended = current_period(sub)
    sub[CYCLE] += 1
    set_period(sub, cycle_period(sub, sub[CYCLE]))
    invoice_id = new_id("in_")
    if succeeded:
        sub["status"] = "active"
        sub["latest_invoice"] = invoice_id
        state.events.record_update("customer.subscription.updated", sub, before, origin)
    issue_invoice(
        state,
        origin,
        sub,
        invoice_id=invoice_id,
        reason="subscription_cycle",
        invoice_period=ended,
        line_period=current_period(sub),
        succeeded=succeeded,
    )
    if not succeeded:
        sub["status"] = "past_due"
        state.events.record_update("customer.subscription.updated", sub, before, origin)
    return sub


def end(
    state: EmulatorState,
    origin: Origin,
    sub: JSON,
    *,
    reason: str = "cancellation_requested",
    comment: str | None = None,
    feedback: str | None = None,
) -> JSON:
    """Cancel `sub` now; the `deleted` event carries no previous_attributes."""
    now = state.clock.now()
    sub.update(status="canceled", ended_at=now, canceled_at=sub["canceled_at"] or now)
    details = sub["cancellation_details"]
    details["reason"] = details["reason"] or reason
    if comment is not None:
        details["comment"] = comment
    if feedback is not None:
        details["feedback"] = feedback
    state.events.record("customer.subscription.deleted", sub, origin)
    return sub
