"""Changes a customer makes in Stripe's billing portal (or support makes in
the dashboard), acted out for tests: no API request is involved, but the
service hears about them through `customer.subscription.updated`.
"""

from __future__ import annotations

from typing import Any

from stripe_emulator import billing, clocks
from stripe_emulator.call import Call
from stripe_emulator.errors import StripeError
from stripe_emulator.events import AUTOMATIC
from stripe_emulator.jsontypes import JSON
from stripe_emulator.params import validate
from stripe_emulator.resources import subscriptions
from stripe_emulator.state import EmulatorState

CHANGES = (
    "price",
    "quantity",
    "cancel_at_period_end",
    "metadata",
    "proration_behavior",
    "default_payment_method",
    "status",
)
STATUSES = ("active", "trialing", "past_due", "unpaid", "paused", "incomplete", "canceled")


def update_subscription(state: EmulatorState, subscription_id: str, changes: JSON) -> JSON:
    """Apply `changes` (see CHANGES) to the subscription; the caller holds the store lock."""
    unknown = sorted(set(changes) - set(CHANGES))
    if unknown:
        raise StripeError(f"Unknown change: {unknown[0]}", param=unknown[0])
    sub = state.store.require("subscription", subscription_id)
    with state.clock.frozen_at(clocks.clock_time(state, sub["customer"])):
        return _apply(state, sub, changes)


def _apply(state: EmulatorState, sub: JSON, changes: JSON) -> JSON:
    subscription_id = sub["id"]
    tree = _as_update_params(sub, changes)
    if tree:
        # The same code path as POST /v1/subscriptions/{id}: same prorations,
        # invoices and events, only without a request behind them.
        params = validate(tree, subscriptions.UPDATE)
        subscriptions.update(Call(state, params, {"id": subscription_id}, AUTOMATIC, ""))
    status = changes.get("status")
    if status is not None:
        _set_status(state, state.store.require("subscription", subscription_id), status)
    return state.store.require("subscription", subscription_id)


def _as_update_params(sub: JSON, changes: JSON) -> dict[str, Any]:
    """The form-encoded params (all strings) that make the same change via the API."""
    tree: dict[str, Any] = {}
    item: dict[str, str] = {}
    if "price" in changes:
        item["price"] = _string(changes, "price")
    if "quantity" in changes:
        quantity = changes["quantity"]
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise StripeError("quantity must be a positive integer", param="quantity")
        item["quantity"] = str(quantity)
    if item:
        tree["items"] = [{"id": sub["items"]["data"][0]["id"], **item}]
    if "cancel_at_period_end" in changes:
        flag = changes["cancel_at_period_end"]
        if not isinstance(flag, bool):
            raise StripeError(
                "cancel_at_period_end must be a boolean", param="cancel_at_period_end"
            )
        tree["cancel_at_period_end"] = "true" if flag else "false"
    if "metadata" in changes:
        metadata = changes["metadata"]
        if not isinstance(metadata, dict):
            raise StripeError("metadata must be an object of strings", param="metadata")
        tree["metadata"] = metadata
    if "proration_behavior" in changes:
        tree["proration_behavior"] = _string(changes, "proration_behavior")
    if "default_payment_method" in changes:
        tree["default_payment_method"] = _string(changes, "default_payment_method")
    return tree


def _set_status(state: EmulatorState, sub: JSON, status: Any) -> None:
    if status not in STATUSES:
        raise StripeError(f"status must be one of {', '.join(STATUSES)}", param="status")
    if status == "canceled":
        if sub["status"] != "canceled":
            billing.end(state, AUTOMATIC, sub)
        return
    before = state.events.snapshot(sub)
    sub["status"] = status
    state.events.record_update("customer.subscription.updated", sub, before, AUTOMATIC)


def _string(changes: JSON, key: str) -> str:
    value = changes[key]
    if not isinstance(value, str) or not value:
        raise StripeError(f"{key} must be a non-empty string", param=key)
    return value
