"""Which state one subscription's pending events leave it in.

The applier takes every pending event of a subscription at once, under
that subscription's lock, and asks `plan_batch` what to record. Only the
newest event can carry the state; the rules:

- An event older than the recorded state changes nothing (`stale`).
- The newest event's payload is recorded when it alone holds the newest
  second, carries the subscription, and is strictly newer than the state
  recorded. Its older companions are `superseded`.
- Anything else (two events in one second, a second shared with the recorded
  state, or a newest event that does not carry the subscription: invoices,
  checkouts, other API versions) is settled by asking Stripe. One fetch
  serves the whole batch: every event read before the fetch began is
  reflected in its answer.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from billing_server.domain.events import Freshness, freshness
from billing_server.domain.subscriptions import Observation, SubscriptionSnapshot


class EventOutcome(enum.StrEnum):
    # Its state (or a fetch made after it arrived) is what was recorded.
    APPLIED = "applied"
    # A newer event of the same batch carried the state.
    SUPERSEDED = "superseded"
    # Older than the state already recorded.
    STALE = "stale"


@dataclass(frozen=True)
class PendingEvent:
    id: str
    created: datetime
    # The subscription as the payload holds it; None when the payload does
    # not carry it (or not in a shape this service can trust).
    state: SubscriptionSnapshot | None


@dataclass(frozen=True)
class Fetched:
    """A subscription fetched from Stripe, and the events read before the fetch."""

    snapshot: SubscriptionSnapshot
    started: datetime
    covers: frozenset[str]

    def observation_after(self, covered: Sequence[PendingEvent]) -> Observation:
        newest = max((e.created for e in covered), default=None)
        return Observation.fetched_since(self.started, covering=newest)


@dataclass(frozen=True)
class BatchPlan:
    needs_fetch: bool
    # What to record, when anything: a payload or a fetched snapshot.
    state: SubscriptionSnapshot | None
    observation: Observation | None
    outcomes: dict[str, EventOutcome]


def plan_batch(
    events: Sequence[PendingEvent], recorded_at: datetime | None, fetched: Fetched | None
) -> BatchPlan:
    outcomes: dict[str, EventOutcome] = {}
    covered = [e for e in events if fetched is not None and e.id in fetched.covers]
    rest = [e for e in events if fetched is None or e.id not in fetched.covers]
    known_at = recorded_at
    observation = None
    if fetched is not None:
        # Fetched after these events arrived, the snapshot is at least as new
        # as the newest of them, whatever the two clocks say.
        observation = fetched.observation_after(covered)
        known_at = observation.at if recorded_at is None else max(recorded_at, observation.at)

    candidates = [e for e in rest if freshness(e.created, known_at) is not Freshness.OLDER]
    for event in rest:
        if event not in candidates:
            outcomes[event.id] = EventOutcome.STALE
    if not candidates:
        for event in covered:
            outcomes[event.id] = EventOutcome.APPLIED
        if fetched is None:
            return BatchPlan(False, None, None, outcomes)
        return BatchPlan(False, fetched.snapshot, observation, outcomes)

    newest_second = max(_second(e.created) for e in candidates)
    newest = [e for e in candidates if _second(e.created) == newest_second]
    chosen = newest[0]
    if (
        len(newest) == 1
        and chosen.state is not None
        and freshness(chosen.created, known_at) is Freshness.NEWER
    ):
        for event in (*covered, *candidates):
            outcomes[event.id] = EventOutcome.SUPERSEDED
        outcomes[chosen.id] = EventOutcome.APPLIED
        return BatchPlan(False, chosen.state, Observation.from_event(chosen.created), outcomes)
    return BatchPlan(True, None, None, {})


def _second(moment: datetime) -> int:
    return int(moment.timestamp())
