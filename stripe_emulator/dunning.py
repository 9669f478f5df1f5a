"""Collecting a renewal that failed: Stripe's retries, then dunning's end.

Whether a charge works depends on the payment method: Stripe's test
payment methods that attach but fail every charge fail here too.
"""

from __future__ import annotations

from stripe_emulator import billing
from stripe_emulator.events import Origin
from stripe_emulator.jsontypes import JSON
from stripe_emulator.state import EmulatorState

FAILING_PAYMENT_METHODS = frozenset(
    {
        "pm_card_chargeCustomerFail",
        "pm_card_chargeDeclined",
        "pm_card_chargeDeclinedInsufficientFunds",
        "pm_card_visa_chargeDeclined",
    }
)
# What happens once the last retry fails, as Stripe's subscription settings
# offer it ("canceled" is Stripe's default).
FINAL_STATUSES = ("canceled", "unpaid", "past_due")


def payment_succeeds(state: EmulatorState, sub: JSON) -> bool:
    """Whether charging `sub`'s payment method works now."""
    customer = state.store.get("customer", sub["customer"]) or {}
    method = sub["default_payment_method"] or (customer.get("invoice_settings") or {}).get(
        "default_payment_method"
    )
    return method not in FAILING_PAYMENT_METHODS


def retry_payment(state: EmulatorState, origin: Origin, sub: JSON, final_status: str) -> JSON:
    """Retry the open invoice of a past_due `sub`; after the last failed
    retry, `final_status` ("canceled", "unpaid" or "past_due") applies."""
    inv = state.store.require("invoice", sub["latest_invoice"])
    before = state.events.snapshot(sub)
    if payment_succeeds(state, sub):
        billing.mark_paid(state, origin, inv, attempts=inv["attempt_count"] + 1)
        sub["status"] = "active"
        state.events.record_update("customer.subscription.updated", sub, before, origin)
        return sub
    billing.record_failed_attempt(state, origin, inv)
    if inv["next_payment_attempt"] is not None or final_status == "past_due":
        return sub
    if final_status == "canceled":
        return billing.end(state, origin, sub, reason="payment_failed")
    sub["status"] = "unpaid"
    state.events.record_update("customer.subscription.updated", sub, before, origin)
    return sub
