"""Applying stored Stripe events: per subscription, in order, deciding where it writes.

The applier's threads (entrypoints/event_applier.py) call `apply_next`
until nothing is due. Each call claims one subscription and applies every
pending event of it together, in a transaction that holds the
subscription's lock: reading what is recorded, judging the events against
it and writing the result are one step, so concurrent deliveries, replicas
and API calls cannot slip between a decision and its write. When Stripe has
to be asked, the transaction ends first; Stripe is asked at the shared pace
(service_layer/stripe_questions.py), and the decision is taken again, from
the start, in a new transaction that has the answer.

The rules, each in one place:
- Order and state: domain/event_batches.py. Grace: domain/payments.py.
- Finding the account, and waiting for it: service_layer/event_accounts.py.
- A checkout whose customer is linked to another account, or that names
  another account than its subscription's, is rejected; so is an event whose
  object Stripe says does not exist. Rejected events are finished: Stripe
  was answered long ago, and a retry would meet the same answer.
- Any other failure (Stripe down, a bug) leaves the events failed, to be
  tried again with backoff (service_layer/event_outcomes.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from billing_server.adapters import stripe_events
from billing_server.adapters.event_inbox import StoredEvent
from billing_server.domain.errors import InvalidArgument, Unavailable
from billing_server.domain.event_batches import PendingEvent, plan_batch
from billing_server.domain.events import EventKind
from billing_server.domain.payments import PaymentFact
from billing_server.service_layer.dependencies import Dependencies
from billing_server.service_layer.event_accounts import (
    defer,
    known_account,
    valid_account,
    without_foreign_checkouts,
)
from billing_server.service_layer.event_outcomes import Outcomes, Pending, first_customer, settle
from billing_server.service_layer.ingest import type_label
from billing_server.service_layer.linking import link_customer
from billing_server.service_layer.recording import Recorded, record_observation
from billing_server.service_layer.stripe_questions import Answers, Question, ask
from billing_server.service_layer.unit_of_work import AbstractUnitOfWork

log = logging.getLogger(__name__)

# Asking Stripe again settles a race with a concurrent write; past this
# many rounds the subscription is left for a later attempt.
MAX_ROUNDS = 4
_PAYMENTS = {EventKind.PAYMENT_SUCCEEDED: True, EventKind.PAYMENT_FAILED: False}


class Claims:
    """The subscriptions this process's applier threads are working on."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: set[str] = set()

    def held(self) -> set[str]:
        with self._lock:
            return set(self._held)

    def take(self, subject_id: str) -> bool:
        with self._lock:
            if subject_id in self._held:
                return False
            self._held.add(subject_id)
            return True

    def release(self, subject_id: str) -> None:
        with self._lock:
            self._held.discard(subject_id)


def apply_next(deps: Dependencies, claims: Claims) -> bool:
    """Applies the pending events of one due subscription; False when none is due."""
    answers = Answers()
    with deps.uow(write=True) as uow:
        subject = _claim(uow, deps.clock(), claims)
        if subject is None:
            uow.commit()  # events read again from their payload, if any
            return False
        try:
            question = _guarded(deps, subject, lambda: _round(deps, uow, subject, answers))
        except BaseException:
            claims.release(subject)
            raise
    try:
        for _ in range(MAX_ROUNDS - 1):
            if question is None or not ask(deps, subject, question, answers):
                return True
            with deps.uow(write=True) as uow:
                if not uow.events.lock_subject(subject):
                    return True  # another replica took it over meanwhile
                question = _guarded(deps, subject, lambda: _round(deps, uow, subject, answers))
        if question is not None:
            settle(deps, subject, "failed", error="the subscription kept changing; retry later")
        return True
    finally:
        claims.release(subject)


def apply_all_due(deps: Dependencies, limit: int | None = None) -> int:
    """Applies due events in this process until none is left (commands, tests)."""
    claims = Claims()
    done = 0
    while (limit is None or done < limit) and apply_next(deps, claims):
        done += 1
    return done


def _claim(uow: AbstractUnitOfWork, now: datetime, claims: Claims) -> str | None:
    skip = claims.held()
    while (due := uow.events.next_due(now, skip)) is not None:
        if due.subject_id is None:
            _read_again(uow, due, now)
            continue
        subject = due.subject_id
        if claims.take(subject):
            if uow.events.lock_subject(subject):
                return subject
            claims.release(subject)
        skip.add(subject)
    return None


def _read_again(uow: AbstractUnitOfWork, stored: StoredEvent, now: datetime) -> None:
    """An event stored before its subject was known: read its payload again."""
    try:
        event = stripe_events.read_event(stored.payload)
    except InvalidArgument:
        uow.events.finish([stored.id], "rejected", now, reason="PAYLOAD_UNREADABLE")
        return
    if event.ignored or event.subject_id is None:
        uow.events.finish([stored.id], "processed", now, outcome="ignored")
        return
    uow.events.resolve(
        stored.id,
        subject_id=event.subject_id,
        customer_id=event.customer_id,
        account_hint=event.account_hint,
        api_version=event.api_version,
    )


def _round(
    deps: Dependencies, uow: AbstractUnitOfWork, subject: str, answers: Answers
) -> Question | None:
    """One attempt at the subject's pending events; commits unless Stripe must be asked."""
    now = deps.clock()
    events, outcomes = _pending(uow, subject)
    newest = events[-1] if events else None
    label = type_label(newest.stored.type) if newest else "events"
    with deps.telemetry.span(
        f"apply {label}",
        {"stripe.event_type": label, "stripe.events": str(len(events))},
        parent=newest.stored.traceparent if newest else None,
    ):
        if events and not subject.startswith("sub_"):
            question = _resolve(uow, subject, events, answers, outcomes)
        elif events:
            question = _apply(deps, uow, subject, events, answers, outcomes, now)
        else:
            question = None
        if question is not None:
            return question
        outcomes.write(uow, now)
        uow.commit()
    outcomes.report(deps, now)
    return None


def _pending(uow: AbstractUnitOfWork, subject: str) -> tuple[list[Pending], Outcomes]:
    outcomes = Outcomes()
    events: list[Pending] = []
    for stored in uow.events.pending_for(subject):
        try:
            event = stripe_events.read_event(stored.payload)
        except InvalidArgument:
            outcomes.rejected["PAYLOAD_UNREADABLE"].append(Pending(stored, EventKind.OTHER, None))
            continue
        events.append(Pending(stored, event.kind, event.state))
    events.sort(key=lambda e: (e.stored.created, e.stored.received_at))
    return events, outcomes


def _resolve(
    uow: AbstractUnitOfWork,
    subject: str,
    events: list[Pending],
    answers: Answers,
    outcomes: Outcomes,
) -> Question | None:
    """Events of another API version name an invoice or a checkout session:
    which subscription they concern is read from Stripe, in the pinned version."""
    if subject not in answers.objects:
        kind = events[0].kind
        return Question("checkout" if kind is EventKind.CHECKOUT_COMPLETED else "invoice", subject)
    found = answers.objects[subject]
    for event in events:
        if found.subscription_id is None:
            outcomes.processed["ignored"].append(event)  # not a subscription's
            continue
        # Pending still, now under its subscription: the next claim takes it
        # with that subscription's other events.
        uow.events.resolve(
            event.id,
            subject_id=found.subscription_id,
            customer_id=found.customer_id,
            account_hint=found.account_hint,
        )
    return None


def _apply(
    deps: Dependencies,
    uow: AbstractUnitOfWork,
    subject: str,
    events: list[Pending],
    answers: Answers,
    outcomes: Outcomes,
    now: datetime,
) -> Question | None:
    recorded = uow.subscriptions.recorded(subject)
    events = without_foreign_checkouts(uow, recorded, events, outcomes)
    plan = plan_batch(
        [PendingEvent(e.id, e.stored.created, e.state) for e in events],
        recorded.state_at if recorded else None,
        answers.fetched,
    )
    if plan.needs_fetch:
        return Question("subscription", subject, frozenset(e.id for e in events))
    if not events:
        return None
    account = known_account(uow, recorded, plan.state, events)
    customer = plan.state.customer_id if plan.state else first_customer(events)
    if account is None and customer is not None:
        if customer not in answers.customers:
            return Question("customer", customer)
        account = valid_account(answers.customers[customer])
    if account is None:
        defer(uow, events, customer, now, outcomes)
        return None

    for event in events:
        hint, linked = event.stored.account_hint, event.stored.customer_id
        if event.kind is EventKind.CHECKOUT_COMPLETED and hint == account and linked:
            link_customer(uow, account, linked, now)
    payments = [
        PaymentFact(e.stored.created, succeeded=_PAYMENTS[e.kind])
        for e in events
        if e.kind in _PAYMENTS
    ]
    if plan.state is not None or payments:
        recorded_as, _ = record_observation(
            uow,
            deps.catalog,
            subject,
            account_id=account,
            snapshot=plan.state,
            observation=plan.observation,
            payments=payments,
            now=now,
            telemetry=deps.telemetry,
        )
        if recorded_as is Recorded.CONFLICT:
            answers.fetched = None
            return Question("subscription", subject, frozenset(e.id for e in events))
    by_id = {e.id: e for e in events}
    for event_id, outcome in plan.outcomes.items():
        outcomes.processed[outcome.value].append(by_id[event_id])
    outcomes.payment_failures += sum(e.kind is EventKind.PAYMENT_FAILED for e in events)
    return None


def _guarded(
    deps: Dependencies, subject: str, attempt: Callable[[], Question | None]
) -> Question | None:
    """Runs one round; a failure other than the database's leaves the events failed."""
    try:
        return attempt()
    except Unavailable:
        raise  # the database is away: the applier waits and tries again
    except Exception as exc:
        log.exception("applying the events of %s failed", subject)
        settle(deps, subject, "failed", error=f"{type(exc).__name__}: {exc}")
        return None
