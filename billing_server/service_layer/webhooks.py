"""Applying stored Stripe events: per subscription, in order, deciding where it writes.

The applier's threads (entrypoints/event_applier.py) call `apply_next`
until nothing is due. Each call claims up to BATCH_SUBJECTS subscriptions
and applies every pending event of each together, in one transaction that
holds their locks: reading what is recorded, judging the events against it
and writing the result are one step, so concurrent deliveries, replicas
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

import functools
import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime

from billing_server.adapters import stripe_events
from billing_server.adapters.subscription_repository import RecordedSubscription
from billing_server.domain.errors import InvalidArgument, Unavailable
from billing_server.domain.event_batches import BatchPlan, PendingEvent, plan_batch
from billing_server.domain.events import EventKind
from billing_server.domain.payments import PaymentFact
from billing_server.domain.stored_events import StoredEvent
from billing_server.service_layer.dependencies import Dependencies
from billing_server.service_layer.event_accounts import (
    defer,
    known_account,
    valid_account,
    without_foreign_checkouts,
)
from billing_server.service_layer.event_outcomes import Outcomes, Pending, settle
from billing_server.service_layer.ingest import type_label
from billing_server.service_layer.linking import link_customer
from billing_server.service_layer.recording import Observed, Recorded, record_observations
from billing_server.service_layer.stripe_questions import Answers, Question, ask
from billing_server.service_layer.unit_of_work import AbstractUnitOfWork

log = logging.getLogger(__name__)

# Asking Stripe again settles a race with a concurrent write; past this
# many rounds the subscription is left for a later attempt.
MAX_ROUNDS = 4
# Subscriptions applied in one transaction: a transaction costs about the
# same for one as for dozens.
BATCH_SUBJECTS = 64
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


def apply_next(deps: Dependencies, claims: Claims) -> int:
    """Applies the due events of up to BATCH_SUBJECTS subscriptions in one
    transaction, then, one at a time, those that need Stripe asked first.
    Returns how many subscriptions it took (0: nothing was due)."""
    with deps.uow(write=True) as uow:
        subjects = _claim(uow, deps.clock(), claims)
        if not subjects:
            return 0
        try:
            questions = _apply_batch(deps, uow, subjects)
        except BaseException:
            for subject in subjects:
                claims.release(subject)
            raise
    for subject in subjects:
        if subject not in questions:
            claims.release(subject)
    for subject, question in questions.items():
        try:
            _ask_and_apply(deps, subject, question)
        finally:
            claims.release(subject)
    return len(subjects)


def apply_all_due(deps: Dependencies, limit: int | None = None) -> int:
    """Applies due events in this process until none is left (commands, tests)."""
    read_stored_without_subject(deps)
    claims = Claims()
    done = 0
    while (limit is None or done < limit) and apply_next(deps, claims):
        done += 1
    return done


def read_stored_without_subject(deps: Dependencies) -> int:
    """Events stored by a release that did not record their subject: their
    payloads are read again, once, so that the applier can claim them."""
    read = 0
    while True:
        with deps.uow(write=True) as uow:
            now = deps.clock()
            found = uow.events.due_without_subject(now, BATCH_SUBJECTS)
            for stored in found:
                _read_again(uow, stored, now)
            uow.commit()
        read += len(found)
        if len(found) < BATCH_SUBJECTS:
            return read


def _claim(uow: AbstractUnitOfWork, now: datetime, claims: Claims) -> list[str]:
    due = uow.events.claim_due(now, claims.held(), BATCH_SUBJECTS)
    return [subject for subject in due if claims.take(subject)]


def _apply_batch(
    deps: Dependencies, uow: AbstractUnitOfWork, subjects: list[str]
) -> dict[str, Question]:
    """The subjects' events in this transaction, committed; on a failure
    other than the database's, each subject again on its own, so that one
    cannot hold up the others."""
    try:
        return _round(deps, uow, subjects, {})
    except Unavailable:
        raise
    except Exception:
        log.exception("applying %d subscriptions together failed; one at a time", len(subjects))
        uow.rollback()
    questions = {}
    for subject in subjects:
        asked = _guarded(deps, subject, functools.partial(_round_alone, deps, subject, Answers()))
        if asked is not None:
            questions[subject] = asked
    return questions


def _ask_and_apply(deps: Dependencies, subject: str, question: Question) -> None:
    answers = Answers()
    for _ in range(MAX_ROUNDS - 1):
        if not ask(deps, subject, question, answers):
            return
        asked = _guarded(deps, subject, lambda: _round_alone(deps, subject, answers))
        if asked is None:
            return
        question = asked
    settle(deps, subject, "failed", error="the subscription kept changing; retry later")


def _round_alone(deps: Dependencies, subject: str, answers: Answers) -> Question | None:
    with deps.uow(write=True) as uow:
        if not uow.events.lock_subject(subject):
            return None  # another replica took it over meanwhile
        return _round(deps, uow, [subject], {subject: answers}).get(subject)


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


@dataclass
class _Ready:
    """A subject whose events can be applied in this round."""

    subject: str
    events: list[Pending]
    plan: BatchPlan
    recorded: RecordedSubscription | None
    account: str | None = None


def _round(
    deps: Dependencies,
    uow: AbstractUnitOfWork,
    subjects: list[str],
    answers: dict[str, Answers],
) -> dict[str, Question]:
    """One attempt at the subjects' pending events: everything that can be
    decided from what is known is written and committed; the others are left
    as they are, with the question that would settle them."""
    now = deps.clock()
    outcomes = Outcomes()
    questions: dict[str, Question] = {}
    pending = uow.events.pending_for_all(subjects)
    recorded = uow.subscriptions.recorded([s for s in subjects if s.startswith("sub_")])
    ready: list[_Ready] = []
    for subject in subjects:
        events = _read(pending.get(subject, []), outcomes)
        known = answers.get(subject, Answers())
        if not events:
            continue
        with _span(deps, events):
            if not subject.startswith("sub_"):
                asked = _resolve(uow, subject, events, known, outcomes)
            else:
                asked, decided = _plan(uow, subject, events, recorded.get(subject), known, outcomes)
                if decided is not None:
                    ready.append(decided)
        if asked is not None:
            questions[subject] = asked

    _find_accounts(uow, ready, answers, questions, outcomes, now)
    conflicts = _record(deps, uow, [r for r in ready if r.account is not None], outcomes, now)
    for item in conflicts:
        questions[item.subject] = Question(
            "subscription", item.subject, frozenset(e.id for e in item.events)
        )
    outcomes.write(uow, now)
    uow.commit()
    outcomes.report(deps, now)
    return questions


def _read(stored: list[StoredEvent], outcomes: Outcomes) -> list[Pending]:
    events: list[Pending] = []
    for row in stored:
        try:
            event = stripe_events.read_stored(row.payload)
        except (InvalidArgument, ValueError, KeyError, TypeError):
            outcomes.rejected["PAYLOAD_UNREADABLE"].append(Pending(row, EventKind.OTHER, None))
            continue
        events.append(Pending(row, event.kind, event.state))
    events.sort(key=lambda e: (e.stored.created, e.stored.received_at))
    return events


def _span(deps: Dependencies, events: list[Pending]) -> AbstractContextManager[None]:
    newest = events[-1].stored
    label = type_label(newest.type)
    return deps.telemetry.span(
        f"apply {label}",
        {"stripe.event_type": label, "stripe.events": str(len(events))},
        parent=newest.traceparent,
    )


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


def _plan(
    uow: AbstractUnitOfWork,
    subject: str,
    events: list[Pending],
    recorded: RecordedSubscription | None,
    answers: Answers,
    outcomes: Outcomes,
) -> tuple[Question | None, _Ready | None]:
    events = without_foreign_checkouts(uow, recorded, events, outcomes)
    plan = plan_batch(
        [PendingEvent(e.id, e.stored.created, e.state) for e in events],
        recorded.state_at if recorded else None,
        answers.fetched,
    )
    if plan.needs_fetch:
        return Question("subscription", subject, frozenset(e.id for e in events)), None
    if not events:
        return None, None
    return None, _Ready(subject, events, plan, recorded)


def _find_accounts(
    uow: AbstractUnitOfWork,
    ready: list[_Ready],
    answers: dict[str, Answers],
    questions: dict[str, Question],
    outcomes: Outcomes,
    now: datetime,
) -> None:
    """Sets each subject's account, from what is known here (one query for
    the customers of all of them); defers those Stripe cannot name either."""
    customers = {r.subject: _customer(r) for r in ready}
    linked = uow.accounts.accounts_for_customers({c for c in customers.values() if c})
    for item in ready:
        customer = customers[item.subject]
        item.account = known_account(item.recorded, item.plan.state, item.events) or (
            linked.get(customer) if customer else None
        )
        if item.account is None and customer is not None:
            known = answers.get(item.subject, Answers())
            if customer not in known.customers:
                questions[item.subject] = Question("customer", customer)
                continue
            item.account = valid_account(known.customers[customer])
        if item.account is None:
            defer(uow, item.events, customer, now, outcomes)


def _record(
    deps: Dependencies,
    uow: AbstractUnitOfWork,
    ready: list[_Ready],
    outcomes: Outcomes,
    now: datetime,
) -> list[_Ready]:
    """Writes the state the ready subjects' events lead to; returns those
    whose live snapshot raced with another write: they are asked again."""
    seen = []
    for item in ready:
        assert item.account is not None
        for event in item.events:
            hint, customer = event.stored.account_hint, event.stored.customer_id
            if event.kind is EventKind.CHECKOUT_COMPLETED and hint == item.account and customer:
                link_customer(uow, item.account, customer, now)
        payments = [
            PaymentFact(e.stored.created, succeeded=_PAYMENTS[e.kind])
            for e in item.events
            if e.kind in _PAYMENTS
        ]
        seen.append(
            Observed(item.subject, item.account, item.plan.state, item.plan.observation, payments)
        )
    results = record_observations(uow, deps.catalog, seen, now=now, telemetry=deps.telemetry)
    conflicts = []
    for item, (recorded_as, _) in zip(ready, results, strict=True):
        if recorded_as is Recorded.CONFLICT:
            conflicts.append(item)
            continue
        by_id = {e.id: e for e in item.events}
        for event_id, outcome in item.plan.outcomes.items():
            outcomes.processed[outcome.value].append(by_id[event_id])
        outcomes.payment_failures += sum(e.kind is EventKind.PAYMENT_FAILED for e in item.events)
    return conflicts


def _customer(item: _Ready) -> str | None:
    if item.plan.state is not None:
        return item.plan.state.customer_id
    return next((e.stored.customer_id for e in item.events if e.stored.customer_id), None)


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
