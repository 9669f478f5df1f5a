"""Which clock an object lives by: the emulator's own, or a test clock.

A customer created with `test_clock` lives at that clock's frozen time, and
so do its subscriptions and invoices (Stripe's test clocks); everything
else lives at the emulator's time.
"""

from __future__ import annotations

from stripe_emulator.jsontypes import JSON
from stripe_emulator.state import EmulatorState

TEST_CLOCK = "test_helpers.test_clock"


def clock_time(state: EmulatorState, customer_id: str | None) -> int | None:
    """The frozen time of the test clock the customer is on (None: not on one)."""
    customer = state.store.get("customer", customer_id or "")
    clock_id = customer.get("test_clock") if customer else None
    clock = state.store.get(TEST_CLOCK, clock_id) if clock_id else None
    return int(clock["frozen_time"]) if clock else None


def subscriptions_on(state: EmulatorState, clock_id: str | None) -> list[JSON]:
    """The subscriptions on test clock `clock_id` (None: on the emulator's clock), oldest first."""
    found = [s for s in state.store.newest_first("subscription") if s["test_clock"] == clock_id]
    return found[::-1]
