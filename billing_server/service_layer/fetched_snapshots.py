"""Recording subscriptions fetched live from Stripe, with read-your-writes."""

from __future__ import annotations

from datetime import datetime

from billing_server.domain.audit import AuditEntry
from billing_server.domain.errors import Aborted
from billing_server.domain.subscriptions import AccountState, Observation, SubscriptionSnapshot
from billing_server.service_layer.dependencies import Dependencies
from billing_server.service_layer.idempotency import Completion
from billing_server.service_layer.linking import link_customer
from billing_server.service_layer.recording import Observed, Recorded, record_observations

# A live snapshot loses a race only to a write made while it was in flight;
# fetching again settles it, so a few rounds are plenty.
MAX_ROUNDS = 3


def record_fetched(
    deps: Dependencies,
    account_id: str,
    snapshot: SubscriptionSnapshot,
    request_started: datetime,
    *,
    link_customer_id: str | None = None,
    audit: AuditEntry | None = None,
    done: Completion[AccountState] | None = None,
) -> tuple[Recorded, AccountState]:
    """Records a snapshot that a request started at `request_started` fetched,
    together with its audit entry and the call's answer (`done`), in one
    transaction. Returns what was recorded and the account's state after."""
    for _ in range(MAX_ROUNDS):
        now = deps.clock()
        with deps.uow(write=True) as uow:
            # The subscription's lock comes first, as for every writer of it.
            uow.subscriptions.lock([snapshot.id])
            if link_customer_id is not None:
                link_customer(uow, account_id, link_customer_id, now)
            [(outcome, subscription)] = record_observations(
                uow,
                deps.catalog,
                [
                    Observed(
                        snapshot.id,
                        account_id,
                        snapshot,
                        Observation.fetched_since(request_started),
                    )
                ],
                now=now,
                telemetry=deps.telemetry,
            )
            if outcome is not Recorded.CONFLICT:
                # Events of this subscription that waited for its account
                # can find it now.
                uow.events.release_deferred(now, subject_id=snapshot.id)
                if audit is not None:
                    uow.audit.record(audit)
                state = uow.accounts.state(account_id)
                after = AccountState(
                    account_id,
                    state.customer_id,
                    state.state_version,
                    state.state_updated_at,
                    subscription,
                )
                if done is not None:
                    done.finish(uow, after)
                uow.commit()
                return outcome, after
        request_started = deps.clock()
        snapshot = deps.stripe.get_subscription(snapshot.id)
    raise Aborted(
        "the subscription kept changing while it was being recorded; retry",
        reason="CONCURRENT_CHANGE",
    )
