"""What the passing of time does to subscriptions, as Stripe does it on its own.

`advance(state, subscriptions, until)` plays out, in time order and each at
its own moment, everything due up to `until`: a trial's end warning, a
period's end (a renewal, or the end of a trial, billed with the customer's
payment method), a `cancel_at` or cancel-at-period-end taking effect, and
the retries of a failed payment until dunning ends. The emulator's own
clock and each test clock move through it.
"""

from __future__ import annotations

from stripe_emulator import billing, dunning
from stripe_emulator.events import AUTOMATIC
from stripe_emulator.jsontypes import JSON
from stripe_emulator.periods import days
from stripe_emulator.state import EmulatorState

TRIAL_WARNING = days(3)  # `customer.subscription.trial_will_end`, before the end
_WARNED = "_trial_will_end_sent"
_MOVING = ("active", "trialing", "past_due")


def advance(state: EmulatorState, subscriptions: list[JSON], until: int) -> None:
    """Play what is due on `subscriptions` up to `until` (the store lock held)."""
    while True:
        due = [(at, sub) for sub in subscriptions if (at := next_due(state, sub)) is not None]
        due = [(at, sub) for at, sub in due if at <= until]
        if not due:
            return
        at, sub = min(due, key=lambda pair: pair[0])
        with state.clock.frozen_at(at):
            _play(state, sub, at)


def next_due(state: EmulatorState, sub: JSON) -> int | None:
    """When something next happens to `sub` on its own (None: never)."""
    times = [t for t in (_cancel_at(sub), _period_end(sub), _warning_at(sub)) if t is not None]
    retry = _retry_at(state, sub)
    if retry is not None:
        times.append(retry)
    return min(times, default=None)


def _play(state: EmulatorState, sub: JSON, at: int) -> None:
    cancel_at, period_end = _cancel_at(sub), _period_end(sub)
    if cancel_at is not None and cancel_at <= at:
        billing.end(state, AUTOMATIC, sub)
    elif period_end is not None and period_end <= at:
        billing.renew(state, AUTOMATIC, sub, succeeded=dunning.payment_succeeds(state, sub))
    elif (warning := _warning_at(sub)) is not None and warning <= at:
        sub[_WARNED] = True
        state.events.record("customer.subscription.trial_will_end", sub, AUTOMATIC)
    else:
        dunning.retry_payment(state, AUTOMATIC, sub, state.dunning_final_status)


def _cancel_at(sub: JSON) -> int | None:
    if sub["status"] in ("canceled", "incomplete_expired") or not sub["cancel_at"]:
        return None
    return int(sub["cancel_at"])


def _period_end(sub: JSON) -> int | None:
    if sub["status"] not in _MOVING:
        return None
    return billing.current_period(sub)[1]


def _warning_at(sub: JSON) -> int | None:
    if sub["status"] != "trialing" or sub.get(_WARNED) or not sub["trial_end"]:
        return None
    warning = int(sub["trial_end"]) - TRIAL_WARNING
    # A trial shorter than the warning gets none, as it would come at its start.
    return warning if warning > int(sub["trial_start"]) else None


def _retry_at(state: EmulatorState, sub: JSON) -> int | None:
    if sub["status"] != "past_due" or not sub["latest_invoice"]:
        return None
    invoice = state.store.get("invoice", sub["latest_invoice"])
    if invoice is None or invoice["status"] != "open":
        return None
    attempt = invoice["next_payment_attempt"]
    return int(attempt) if attempt is not None else None
