"""Applying stored Stripe events: per subscription, in order, deciding where it writes.

The applier's threads (entrypoints/event_applier.py) call `apply_next`
until nothing is due. Each call claims one subscription and applies every
pending event of it together, in a transaction that holds the
subscription's lock: reading what is recorded, judging the events against
it and writing the result are one step, so concurrent deliveries, replicas
and API calls cannot slip between a decision and its write. When Stripe has
to be asked, the transaction ends first; Stripe is asked at the shared pace
(`Dependencies.stripe_pacer`), and the decision is taken again, from the
start, in a new transaction that has the answer.

The rules, each in one place:
- Order and state: domain/event_batches.py. Grace: domain/payments.py.
- Finding the account: the subscription as we recorded it, then the
  subscription's `metadata.account_id`, then the checkout that started it,
  then the customer as linked here, then the customer's own metadata in
  Stripe (`_account`).
- A checkout whose customer is linked to another account, or that names
  another account than its subscription's, is rejected; so is an event whose
  object Stripe says does not exist. Rejected events are finished: Stripe
  was answered long ago, and a retry would meet the same answer.
- An event whose account cannot be found is deferred. It is tried again when
  its customer is linked, when its subscription is recorded, and on a
  schedule; after DEFERRED_GIVE_UP it is rejected.
- Any other failure (Stripe down, a bug) leaves the events failed, to be
  tried again with backoff.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from billing_server.adapters import stripe_events
from billing_server.adapters.event_inbox import EventStatus, StoredEvent
from billing_server.adapters.repositories import RecordedSubscription
from billing_server.domain.errors import BillingError, InvalidArgument, NotFound, Unavailable
from billing_server.domain.event_batches import Fetched, PendingEvent, plan_batch
from billing_server.domain.events import EventKind
from billing_server.domain.payments import PaymentFact
from billing_server.domain.subscriptions import SubscriptionSnapshot
from billing_server.service_layer import validation
from billing_server.service_layer.dependencies import Dependencies
from billing_server.service_layer.ingest import type_label
from billing_server.service_layer.linking import link_customer
from billing_server.service_layer.recording import Recorded, record_observation
from billing_server.service_layer.unit_of_work import AbstractUnitOfWork

log = logging.getLogger(__name__)

# Asking Stripe again settles a race with a concurrent write; past this
# many rounds the subscription is left for a later attempt.
MAX_ROUNDS = 4
# A thread waits this long at most for its turn to ask Stripe.
MAX_PACE_WAIT_S = 1.0
DEFERRED_GIVE_UP = timedelta(days=3)
_DEFER_FIRST, _DEFER_LONGEST = timedelta(minutes=1), timedelta(hours=1)
_RETRY_FIRST, _RETRY_LONGEST = timedelta(seconds=2), timedelta(minutes=10)
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


@dataclass(frozen=True)
class _Pending:
    """A stored event as the applier reads it: its row, and its payload read once."""

    stored: StoredEvent
    kind: EventKind
    state: SubscriptionSnapshot | None

    @property
    def id(self) -> str:
        return self.stored.id


@dataclass(frozen=True)
class _Ask:
    """What Stripe must be asked before the events can be applied."""

    what: str  # "subscription", "customer", "invoice" or "checkout"
    id: str
    covers: frozenset[str] = frozenset()


@dataclass(frozen=True)
class _Resolved:
    """Which subscription an invoice or a checkout session concerns."""

    subscription_id: str | None
    customer_id: str | None
    account_hint: str | None


@dataclass
class _Answers:
    fetched: Fetched | None = None
    customers: dict[str, str | None] = field(default_factory=dict)
    objects: dict[str, _Resolved] = field(default_factory=dict)


@dataclass
class _Finish:
    """The events' results, written together, reported after the commit."""

    processed: dict[str, list[_Pending]] = field(default_factory=lambda: defaultdict(list))
    rejected: dict[str, list[_Pending]] = field(default_factory=lambda: defaultdict(list))
    deferred: list[_Pending] = field(default_factory=list)
    payment_failures: int = 0


_Attempt = Callable[[], "_Ask | None"]


def apply_next(deps: Dependencies, claims: Claims) -> bool:
    """Applies the pending events of one due subscription; False when none is due."""
    answers = _Answers()
    with deps.uow(write=True) as uow:
        subject = _claim(uow, deps.clock(), claims)
        if subject is None:
            uow.commit()  # events read again from their payload, if any
            return False
        try:
            ask = _guarded(deps, subject, lambda: _round(deps, uow, subject, answers))
        except BaseException:
            claims.release(subject)
            raise
    try:
        for _ in range(MAX_ROUNDS - 1):
            if ask is None or not _asked(deps, subject, ask, answers):
                return True
            with deps.uow(write=True) as uow:
                if not uow.events.lock_subject(subject):
                    return True  # another replica took it over meanwhile
                ask = _guarded(deps, subject, lambda: _round(deps, uow, subject, answers))
        if ask is not None:
            _settle(deps, subject, "failed", error="the subscription kept changing; retry later")
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
    deps: Dependencies, uow: AbstractUnitOfWork, subject: str, answers: _Answers
) -> _Ask | None:
    """One attempt at the subject's pending events; commits unless it must ask Stripe."""
    now = deps.clock()
    events, finish = _pending(uow, subject)
    newest = events[-1] if events else None
    label = type_label(newest.stored.type) if newest else "events"
    with deps.telemetry.span(
        f"apply {label}",
        {"stripe.event_type": label, "stripe.events": str(len(events))},
        parent=newest.stored.traceparent if newest else None,
    ):
        if events and not subject.startswith("sub_"):
            ask = _resolve(uow, subject, events, answers, finish)
        elif events:
            ask = _apply(deps, uow, subject, events, answers, finish, now)
        else:
            ask = None
        if ask is not None:
            return ask
        _write(uow, finish, now)
        uow.commit()
    _report(deps, finish, now)
    return None


def _pending(uow: AbstractUnitOfWork, subject: str) -> tuple[list[_Pending], _Finish]:
    finish = _Finish()
    events: list[_Pending] = []
    for stored in uow.events.pending_for(subject):
        try:
            event = stripe_events.read_event(stored.payload)
        except InvalidArgument:
            finish.rejected["PAYLOAD_UNREADABLE"].append(_Pending(stored, EventKind.OTHER, None))
            continue
        events.append(_Pending(stored, event.kind, event.state))
    events.sort(key=lambda e: (e.stored.created, e.stored.received_at))
    return events, finish


def _resolve(
    uow: AbstractUnitOfWork,
    subject: str,
    events: list[_Pending],
    answers: _Answers,
    finish: _Finish,
) -> _Ask | None:
    """Events of another API version name an invoice or a checkout session:
    which subscription they concern is read from Stripe, in the pinned version."""
    if subject not in answers.objects:
        kind = events[0].kind
        return _Ask("checkout" if kind is EventKind.CHECKOUT_COMPLETED else "invoice", subject)
    found = answers.objects[subject]
    for event in events:
        if found.subscription_id is None:
            finish.processed["ignored"].append(event)  # not a subscription's
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
    events: list[_Pending],
    answers: _Answers,
    finish: _Finish,
    now: datetime,
) -> _Ask | None:
    recorded = uow.subscriptions.recorded(subject)
    events = _without_foreign_checkouts(uow, recorded, events, finish)
    plan = plan_batch(
        [PendingEvent(e.id, e.stored.created, e.state) for e in events],
        recorded.state_at if recorded else None,
        answers.fetched,
    )
    if plan.needs_fetch:
        return _Ask("subscription", subject, frozenset(e.id for e in events))
    if not events:
        return None
    account = _account(uow, recorded, plan.state, events)
    customer = plan.state.customer_id if plan.state else _first_customer(events)
    if account is None and customer is not None:
        if customer not in answers.customers:
            return _Ask("customer", customer)
        account = _valid_account(answers.customers[customer])
    if account is None:
        _defer(uow, events, customer, now, finish)
        return None

    for event in events:
        hint, linked = event.stored.account_hint, event.stored.customer_id
        if event.kind is EventKind.CHECKOUT_COMPLETED and hint == account and linked:
            link_customer(uow, account, linked, now)
    payments = [
        PaymentFact(e.stored.created, _PAYMENTS[e.kind]) for e in events if e.kind in _PAYMENTS
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
            return _Ask("subscription", subject, frozenset(e.id for e in events))
    by_id = {e.id: e for e in events}
    for event_id, outcome in plan.outcomes.items():
        finish.processed[outcome.value].append(by_id[event_id])
    finish.payment_failures += sum(e.kind is EventKind.PAYMENT_FAILED for e in events)
    return None


def _without_foreign_checkouts(
    uow: AbstractUnitOfWork,
    recorded: RecordedSubscription | None,
    events: list[_Pending],
    finish: _Finish,
) -> list[_Pending]:
    """Rejects checkouts that would tie a customer or subscription to a second account."""
    kept = []
    for event in events:
        hint, customer = event.stored.account_hint, event.stored.customer_id
        if event.kind is EventKind.CHECKOUT_COMPLETED and hint is not None:
            owner = uow.accounts.account_for_customer(customer) if customer else None
            if owner is not None and owner != hint:
                finish.rejected["CUSTOMER_LINKED_ELSEWHERE"].append(event)
                continue
            if recorded is not None and recorded.subscription.account_id != hint:
                finish.rejected["SUBSCRIPTION_OF_ANOTHER_ACCOUNT"].append(event)
                continue
        kept.append(event)
    return kept


def _account(
    uow: AbstractUnitOfWork,
    recorded: RecordedSubscription | None,
    state: SubscriptionSnapshot | None,
    events: Sequence[_Pending],
) -> str | None:
    """The account the events belong to, from what is known here; None when
    only Stripe's customer can tell."""
    if recorded is not None:
        return recorded.subscription.account_id
    named = _valid_account(state.metadata.get("account_id") if state else None)
    if named is not None:
        return named
    for event in events:
        if event.kind is EventKind.CHECKOUT_COMPLETED and event.stored.account_hint:
            return event.stored.account_hint
    customer = state.customer_id if state else _first_customer(events)
    return uow.accounts.account_for_customer(customer) if customer else None


def _defer(
    uow: AbstractUnitOfWork,
    events: Sequence[_Pending],
    customer: str | None,
    now: datetime,
    finish: _Finish,
) -> None:
    first_received = min(e.stored.received_at for e in events)
    if now - first_received > DEFERRED_GIVE_UP:
        finish.rejected["ACCOUNT_NOT_FOUND"].extend(events)
        return
    log.info("%d event(s) wait for customer %s to be linked", len(events), customer)
    attempts = max(e.stored.attempts for e in events)
    uow.events.finish(
        [e.id for e in events],
        "deferred",
        now,
        reason="ACCOUNT_UNKNOWN",
        customer_id=customer,
        next_attempt_at=now + _backoff(attempts, _DEFER_FIRST, _DEFER_LONGEST),
    )
    finish.deferred.extend(events)


def _write(uow: AbstractUnitOfWork, finish: _Finish, now: datetime) -> None:
    for outcome, events in finish.processed.items():
        uow.events.finish([e.id for e in events], "processed", now, outcome=outcome)
    for reason, events in finish.rejected.items():
        uow.events.finish([e.id for e in events], "rejected", now, reason=reason)


def _report(deps: Dependencies, finish: _Finish, now: datetime) -> None:
    telemetry = deps.telemetry
    for outcome, events in finish.processed.items():
        for event in events:
            telemetry.event_processed(type_label(event.stored.type), outcome)
            telemetry.event_applied_after((now - event.stored.received_at).total_seconds())
    for reason, events in finish.rejected.items():
        for event in events:
            telemetry.event_processed(type_label(event.stored.type), "rejected")
            telemetry.event_rejected(reason)
            telemetry.event_applied_after((now - event.stored.received_at).total_seconds())
    for event in finish.deferred:
        telemetry.event_processed(type_label(event.stored.type), "deferred")
    for _ in range(finish.payment_failures):
        telemetry.payment_failed()


def _asked(deps: Dependencies, subject: str, ask: _Ask, answers: _Answers) -> bool:
    """Asks Stripe; False when the events were settled instead (rejected,
    failed, or left for later because Stripe's pace is taken)."""
    delay = deps.stripe_pacer.reserve(MAX_PACE_WAIT_S)
    if delay is None:
        # Other subscriptions' questions fill the next seconds: rather than
        # hold a thread, come back once they are asked. Events that arrive
        # meanwhile may make this question unnecessary.
        _postpone(deps, subject, timedelta(seconds=deps.stripe_pacer.queued_s()))
        return False
    time.sleep(delay)
    try:
        if ask.what == "subscription":
            started = deps.clock()
            snapshot = deps.stripe.get_subscription(ask.id)
            answers.fetched = Fetched(snapshot, started, ask.covers)
        elif ask.what == "customer":
            try:
                answers.customers[ask.id] = deps.stripe.account_of_customer(ask.id)
            except NotFound:
                answers.customers[ask.id] = None  # deleted: no account to find there
        elif ask.what == "invoice":
            invoice = deps.stripe.get_invoice(ask.id)
            answers.objects[ask.id] = _Resolved(invoice.subscription_id, invoice.customer_id, None)
        else:
            session = deps.stripe.get_checkout_session(ask.id)
            answers.objects[ask.id] = _Resolved(
                session.subscription.id if session.subscription else None,
                session.customer_id,
                _valid_account(session.client_reference_id or session.metadata.get("account_id")),
            )
    except NotFound:
        _settle(deps, subject, "rejected", reason="STRIPE_OBJECT_MISSING")
        return False
    except BillingError as exc:
        _settle(deps, subject, "failed", error=f"{exc.reason}: {exc}")
        return False
    except Exception as exc:
        log.exception("asking Stripe about %s failed", subject)
        _settle(deps, subject, "failed", error=f"{type(exc).__name__}: {exc}")
        return False
    return True


def _guarded(deps: Dependencies, subject: str, attempt: _Attempt) -> _Ask | None:
    """Runs one round; a failure other than the database's leaves the events failed."""
    try:
        return attempt()
    except Unavailable:
        raise  # the database is away: the applier waits and tries again
    except Exception as exc:
        log.exception("applying the events of %s failed", subject)
        _settle(deps, subject, "failed", error=f"{type(exc).__name__}: {exc}")
        return None


def _settle(
    deps: Dependencies,
    subject: str,
    status: EventStatus,
    *,
    reason: str | None = None,
    error: str | None = None,
) -> None:
    """Ends this attempt at the subject's pending events without applying them."""
    now = deps.clock()
    with deps.uow(write=True) as uow:
        if not uow.events.lock_subject(subject):
            return
        events = uow.events.pending_for(subject)
        attempts = max((e.attempts for e in events), default=0)
        uow.events.finish(
            [e.id for e in events],
            status,
            now,
            reason=reason,
            error=error,
            next_attempt_at=now + _backoff(attempts, _RETRY_FIRST, _RETRY_LONGEST),
        )
        uow.commit()
    for event in events:
        deps.telemetry.event_processed(type_label(event.type), status)
        if status == "rejected" and reason is not None:
            deps.telemetry.event_rejected(reason)


def _postpone(deps: Dependencies, subject: str, delay: timedelta) -> None:
    now = deps.clock()
    with deps.uow(write=True) as uow:
        if not uow.events.lock_subject(subject):
            return
        uow.events.postpone([e.id for e in uow.events.pending_for(subject)], now + delay)
        uow.commit()


def _backoff(attempts: int, first: timedelta, longest: timedelta) -> timedelta:
    return min(first * (1 << min(attempts, 20)), longest)


def _first_customer(events: Sequence[_Pending]) -> str | None:
    return next((e.stored.customer_id for e in events if e.stored.customer_id), None)


def _valid_account(candidate: str | None) -> str | None:
    if not candidate:
        return None
    try:
        return validation.account_id(candidate)
    except InvalidArgument:
        return None
