"""Recording subscriptions fetched live from Stripe, with read-your-writes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from billing_server.domain.errors import Aborted
from billing_server.domain.subscriptions import AccountState, SubscriptionSnapshot
from billing_server.service_layer.dependencies import Dependencies
from billing_server.service_layer.recording import Observation, Recorded, record_subscription
from billing_server.service_layer.unit_of_work import AbstractUnitOfWork

# A live snapshot loses a race only to a write made while it was in flight;
# fetching again settles it, so a few rounds are plenty.
MAX_ROUNDS = 3

AlsoInTransaction = Callable[[AbstractUnitOfWork, Recorded], None]
# Runs first in the transaction; returning False records nothing.
Guard = Callable[[AbstractUnitOfWork], bool]


def record_fetched(
    deps: Dependencies,
    account_id: str,
    snapshot: SubscriptionSnapshot,
    request_started: datetime,
    *,
    link_customer: str | None = None,
    payment_failed_at: datetime | None = None,
    guard: Guard | None = None,
    also: AlsoInTransaction | None = None,
) -> tuple[Recorded | None, AccountState]:
    """Records a snapshot that a request started at `request_started` fetched,
    together with `also` (an audit entry, marking an event processed) in one
    transaction. Returns what was recorded (None when the guard refused) and
    the account's state after."""
    for _ in range(MAX_ROUNDS):
        now = deps.clock()
        with deps.uow(write=True) as uow:
            if guard is not None and not guard(uow):
                return None, uow.accounts.state(account_id)
            if link_customer is not None:
                uow.accounts.ensure(account_id, now)
                uow.accounts.attach_customer(account_id, link_customer)
            outcome, subscription = record_subscription(
                uow,
                deps.catalog,
                snapshot,
                account_id,
                Observation.fetched_since(request_started),
                now,
                payment_failed_at=payment_failed_at,
                telemetry=deps.telemetry,
            )
            if outcome is not Recorded.CONFLICT:
                if also is not None:
                    also(uow, outcome)
                state = uow.accounts.state(account_id)
                uow.commit()
                return outcome, AccountState(
                    account_id,
                    state.customer_id,
                    state.state_version,
                    state.state_updated_at,
                    subscription,
                )
        request_started = deps.clock()
        snapshot = deps.stripe.get_subscription(snapshot.id)
    raise Aborted(
        "the subscription kept changing while it was being recorded; retry",
        reason="CONCURRENT_CHANGE",
    )
