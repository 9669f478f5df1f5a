"""The unit tier's in-memory repositories and inbox (tests/unit/fake_*.py) do
what the SQL adapters do, on the behaviour the use-case tests rely on: one
sequence of calls, run against both, must see the same answers."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from billing_server.adapters.database import connect
from billing_server.adapters.stripe_events import read_event
from billing_server.adapters.subscription_repository import RecordedSubscription
from billing_server.config import Settings
from billing_server.domain.events import InboundEvent
from billing_server.domain.payments import PaymentHistory
from billing_server.domain.subscriptions import Subscription, SubscriptionStatus
from billing_server.service_layer.unit_of_work import AbstractUnitOfWork, SqlAlchemyUnitOfWork
from tests import stripe_payloads as payloads
from tests.conftest import fresh_database
from tests.subscriptions import a_subscription
from tests.unit.fake_unit_of_work import FakeDatabase

pytestmark = pytest.mark.integration

Factory = Callable[..., AbstractUnitOfWork]
T = datetime(2026, 3, 1, tzinfo=UTC)
SECOND = timedelta(seconds=1)


@pytest.fixture(scope="module")
def sql_uow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Factory]:
    # A database of its own: claims see every due event in the database.
    with fresh_database(tmp_path_factory) as url:
        database = connect(Settings.from_env({"SQLALCHEMY_DATABASE_URI": url}))

        def uow(write: bool = False) -> AbstractUnitOfWork:
            return SqlAlchemyUnitOfWork(database.writer if write else database.reader)

        yield uow
        database.dispose()


def event(kind: str, obj: dict[str, object], created: datetime) -> InboundEvent:
    return read_event(payloads.event(kind, obj, created))


def subscription(sub_id: str, status: SubscriptionStatus, created: datetime) -> Subscription:
    past_due = status is SubscriptionStatus.PAST_DUE
    return a_subscription(
        "acct_1",
        subscription_id=sub_id,
        item_id="si_1",
        created=created,
        status=status,
        past_due_since=created if past_due else None,
    )


def inbox_sequence(uow: Factory, events: list[InboundEvent]) -> list[object]:
    newer_a, older_a, b, invoice = events
    seen: list[object] = []
    # Stored one second apart, so that no two are due at the same moment.
    for n, batch in enumerate([[newer_a, newer_a], [older_a], [b, invoice, b]]):
        with uow(write=True) as work:
            seen.append(work.events.store([(e, None) for e in batch], T + n * SECOND))
            work.commit()
    with uow(write=True) as work:
        seen.append(work.events.claim_due(T + 10 * SECOND, (), 1))
        seen.append(work.events.claim_due(T + 10 * SECOND, {"sub_a"}, 10))
        seen.append(work.events.claim_due(T + SECOND, (), 10))  # b and invoice not due yet
        seen.append(work.events.pending_for_all(["sub_a", "sub_b", "sub_none"]))
        work.events.finish([older_a.id], "processed", T, outcome="superseded")
        work.events.finish(
            [newer_a.id],
            "deferred",
            T,
            reason="ACCOUNT_UNKNOWN",
            customer_id="cus_late",
            next_attempt_at=T + timedelta(hours=1),
        )
        work.events.finish([b.id], "failed", T, error="x" * 3000)
        work.events.postpone([invoice.id], T + timedelta(days=1))
        work.commit()
    with uow(write=True) as work:
        seen.append(work.events.claim_due(T + 10 * SECOND, (), 10))  # only b, failed
        seen.append(work.events.release_deferred(T + 20 * SECOND, customer_id="cus_late"))
        seen.append(work.events.claim_due(T + 20 * SECOND, {"sub_b"}, 10))
        # Not committed: the release is forgotten.
    with uow(write=True) as work:
        seen.append(work.events.claim_due(T + 20 * SECOND, {"sub_b"}, 10))
        seen.append(work.events.make_due([older_a.id, b.id, "evt_unknown"], T + 30 * SECOND))
        work.events.resolve(invoice.id, subject_id="sub_a", customer_id="cus_1", account_hint=None)
        work.commit()
    with uow() as work:
        seen.append([work.events.get(e.id) for e in events])
        seen.append(work.events.pending_for("sub_a"))
        seen.append(work.events.known([b.id, "evt_unknown"]))
        seen.append(work.events.listing(["received", "failed"], 10))
        seen.append(work.events.backlog(T + timedelta(days=2)))
    with uow(write=True) as work:
        work.events.finish([invoice.id], "rejected", T + SECOND, reason="STRIPE_OBJECT_MISSING")
        seen.append(work.events.delete_finished_before(T + 2 * SECOND, 10))
        seen.append(work.events.known([e.id for e in events]))
        work.commit()
    return seen


def records_sequence(uow: Factory) -> list[object]:
    live = RecordedSubscription(
        subscription("sub_live", SubscriptionStatus.PAST_DUE, T),
        T,
        T + SECOND,
        # Failures are kept to the second.
        PaymentHistory(None, (T + timedelta(milliseconds=1500),)),
    )
    ended = RecordedSubscription(
        subscription("sub_ended", SubscriptionStatus.CANCELED, T + timedelta(days=1)),
        T,
        T,
        PaymentHistory(T),
    )
    seen: list[object] = []
    with uow(write=True) as work:
        seen.append(work.accounts.state("acct_1"))
        work.accounts.ensure(["acct_1", "acct_1"], T)
        seen.append(work.accounts.attach_customer("acct_1", "cus_1"))
        seen.append(work.accounts.attach_customer("acct_1", "cus_2"))  # keeps the first
        seen.append(work.accounts.accounts_for_customers(["cus_1", "cus_2"]))
        work.subscriptions.save([live, ended])
        work.accounts.bump_state(["acct_1", "acct_never_seen"], T + SECOND)
        work.commit()
    with uow(write=True) as work:
        seen.append(work.accounts.state("acct_1"))  # the live one is current
        seen.append(work.subscriptions.recorded(["sub_live", "sub_ended", "sub_none"]))
        seen.append(work.subscriptions.get("sub_none"))
        orphan = dataclasses.replace(live.subscription, id="sub_orphan", account_id="acct_none")
        with pytest.raises(IntegrityError):  # no such account
            work.subscriptions.save([dataclasses.replace(live, subscription=orphan)])
    with uow(write=True) as work:
        work.accounts.ensure(["acct_2"], T)
        with pytest.raises(IntegrityError):
            work.accounts.attach_customer("acct_2", "cus_1")  # linked to acct_1
    return seen


def test_the_inbox_fake_agrees_with_sql(sql_uow: Factory) -> None:
    a = payloads.subscription("sub_a", "cus_1", period_start=T, account_id="acct_1")
    events = [
        event("customer.subscription.updated", a, T + 5 * SECOND),
        event("customer.subscription.created", a, T + 3 * SECOND),
        event("customer.subscription.updated", {**a, "id": "sub_b"}, T + 4 * SECOND),
        event("invoice.payment_failed", payloads.invoice("sub_c", "cus_1"), T),
    ]
    assert inbox_sequence(FakeDatabase().uow, events) == inbox_sequence(sql_uow, events)


def test_the_account_and_subscription_fakes_agree_with_sql(sql_uow: Factory) -> None:
    assert records_sequence(FakeDatabase().uow) == records_sequence(sql_uow)
