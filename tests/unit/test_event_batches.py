"""Which state one subscription's pending events leave it in (domain/event_batches.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from billing_server.domain.event_batches import (
    EventOutcome,
    Fetched,
    PendingEvent,
    plan_batch,
)
from billing_server.domain.subscriptions import (
    CLOCK_MARGIN,
    SubscriptionSnapshot,
    SubscriptionStatus,
)

pytestmark = pytest.mark.unit

T0 = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)


def state(status: str = "active") -> SubscriptionSnapshot:
    return SubscriptionSnapshot(
        id="sub_1",
        customer_id="cus_1",
        status=SubscriptionStatus(status),
        item_id="si_1",
        price_id="price_1",
        price_lookup_key="pro",
        current_period_start=T0,
        current_period_end=T0 + timedelta(days=30),
        cancel_at_period_end=False,
        canceled_at=None,
        ended_at=None,
        created=T0,
    )


def event(name: str, second: float, status: str | None = "active") -> PendingEvent:
    return PendingEvent(
        name, T0 + timedelta(seconds=second), state(status) if status is not None else None
    )


def test_the_newest_payload_is_recorded_and_its_elders_superseded() -> None:
    plan = plan_batch([event("a", 1, "past_due"), event("b", 2, "canceled")], None, None)
    assert not plan.needs_fetch
    assert plan.state is not None
    assert plan.state.status is SubscriptionStatus.CANCELED
    assert plan.outcomes == {"a": EventOutcome.SUPERSEDED, "b": EventOutcome.APPLIED}


def test_events_older_than_the_recorded_state_are_stale() -> None:
    plan = plan_batch([event("old", 1)], T0 + timedelta(seconds=5), None)
    assert (plan.needs_fetch, plan.state) == (False, None)
    assert plan.outcomes == {"old": EventOutcome.STALE}


@pytest.mark.parametrize(
    "events",
    [
        # Two states from one second: only Stripe knows which came last.
        [event("a", 3, "past_due"), event("b", 3, "active")],
        [event("deleted", 3, "canceled"), event("updated", 3, "past_due")],
        # The newest says the subscription changed, not how.
        [event("updated", 1), event("invoice", 2, None)],
    ],
)
def test_what_a_payload_cannot_settle_is_asked_of_stripe(events: list[PendingEvent]) -> None:
    assert plan_batch(events, None, None).needs_fetch


def test_a_payload_from_the_recorded_second_is_asked_of_stripe() -> None:
    assert plan_batch(
        [event("a", 5)], T0 + timedelta(seconds=5, milliseconds=300), None
    ).needs_fetch


def test_a_newer_payload_beats_an_invoice_before_it() -> None:
    plan = plan_batch([event("invoice", 1, None), event("updated", 2, "past_due")], None, None)
    assert plan.outcomes == {"invoice": EventOutcome.SUPERSEDED, "updated": EventOutcome.APPLIED}


def test_a_fetch_covers_every_event_read_before_it() -> None:
    started = T0 + timedelta(seconds=3, milliseconds=100)  # the same second as both events
    fetched = Fetched(state("unpaid"), started, frozenset({"a", "b"}))
    plan = plan_batch([event("a", 3, "past_due"), event("b", 3, "active")], None, fetched)
    assert not plan.needs_fetch
    assert plan.state is not None
    assert plan.state.status is SubscriptionStatus.UNPAID
    assert plan.observation is not None
    assert plan.observation.live
    # At least as new as what it covers, even where our clock lags Stripe's.
    assert plan.observation.at == T0 + timedelta(seconds=3)
    assert plan.outcomes == {"a": EventOutcome.APPLIED, "b": EventOutcome.APPLIED}


def test_a_fetch_is_placed_before_its_request_when_it_covers_nothing_newer() -> None:
    started = T0 + timedelta(seconds=30)
    plan = plan_batch([event("a", 3, None)], None, Fetched(state(), started, frozenset({"a"})))
    assert plan.observation is not None
    assert plan.observation.at == started - CLOCK_MARGIN


def test_an_event_older_than_what_a_fetch_covered_is_stale_when_it_arrives() -> None:
    # The newer event was fetched for; the older one arrives afterwards.
    started = T0 + timedelta(seconds=5, milliseconds=300)
    fetched = Fetched(state("unpaid"), started, frozenset({"newer"}))
    plan = plan_batch([event("newer", 5, None)], None, fetched)
    assert plan.observation is not None
    recorded_at = plan.observation.at
    late = plan_batch([event("older", 4, "active")], recorded_at, None)
    assert late.outcomes == {"older": EventOutcome.STALE}


def test_an_event_that_arrived_during_the_fetch_is_judged_against_it() -> None:
    started = T0 + timedelta(seconds=10)
    fetched = Fetched(state("active"), started, frozenset({"a"}))
    newer = event("late", 20, "canceled")
    plan = plan_batch([event("a", 3), newer], None, fetched)
    assert plan.state is not None
    assert plan.state.status is SubscriptionStatus.CANCELED
    assert plan.outcomes == {"a": EventOutcome.SUPERSEDED, "late": EventOutcome.APPLIED}

    tied = event("tied", (started - CLOCK_MARGIN - T0).total_seconds())
    assert plan_batch([event("a", 3), tied], None, fetched).needs_fetch

    older = event("older", 1)
    plan = plan_batch([event("a", 3), older], None, fetched)
    assert plan.outcomes == {"a": EventOutcome.APPLIED, "older": EventOutcome.STALE}
