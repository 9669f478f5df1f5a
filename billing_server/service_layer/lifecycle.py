"""Changing and canceling a live subscription."""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable

from billing_server.domain.audit import AuditEntry
from billing_server.domain.errors import FailedPrecondition
from billing_server.domain.plans import Proration
from billing_server.domain.subscriptions import AccountState, Subscription, SubscriptionSnapshot
from billing_server.service_layer import audit, validation
from billing_server.service_layer.dependencies import Dependencies
from billing_server.service_layer.fetched_snapshots import record_fetched
from billing_server.service_layer.idempotency import Completion, stripe_key


class CancellationTiming(enum.Enum):
    AT_PERIOD_END = "at_period_end"
    IMMEDIATELY = "immediately"


def change_plan(
    deps: Dependencies,
    *,
    account_id: str,
    plan_name: str,
    proration: Proration,
    idempotency_key: str | None,
    actor: str,
    done: Completion[AccountState] | None = None,
) -> AccountState:
    validation.account_id(account_id)
    plan = deps.catalog.require(validation.name(plan_name, "plan"))
    if not plan.purchasable:
        raise FailedPrecondition(
            f"plan {plan.name!r} has no price; cancel the subscription to move to it",
            reason="PLAN_NOT_PURCHASABLE",
        )
    state, subscription = _live_subscription(deps, account_id)
    if subscription.plan == plan.name:
        return state  # already there: nothing to ask Stripe
    price_id = deps.stripe.price_id_for(plan)
    request_key = stripe_key(actor, "change-plan", account_id, idempotency_key)
    return _apply(
        deps,
        state,
        lambda: deps.stripe.change_price(
            subscription.id, subscription.item_id, price_id, proration, request_key
        ),
        audit.succeeded(
            deps,
            actor=actor,
            action="ChangePlan",
            account_id=account_id,
            idempotency_key=idempotency_key,
            detail={"from_plan": subscription.plan, "to_plan": plan.name},
        ),
        done,
    )


def cancel_subscription(
    deps: Dependencies,
    *,
    account_id: str,
    timing: CancellationTiming,
    idempotency_key: str | None,
    actor: str,
    done: Completion[AccountState] | None = None,
) -> AccountState:
    validation.account_id(account_id)
    state, subscription = _live_subscription(deps, account_id)
    request_key = stripe_key(actor, f"cancel-{timing.value}", account_id, idempotency_key)
    if timing is CancellationTiming.AT_PERIOD_END:
        if subscription.cancel_at_period_end:
            return state  # already scheduled
        request = functools.partial(deps.stripe.cancel_at_period_end, subscription.id, request_key)
    else:
        request = functools.partial(deps.stripe.cancel_now, subscription.id, request_key)
    return _apply(
        deps,
        state,
        request,
        audit.succeeded(
            deps,
            actor=actor,
            action="CancelSubscription",
            account_id=account_id,
            idempotency_key=idempotency_key,
            detail={"timing": timing.value, "subscription_id": subscription.id},
        ),
        done,
    )


def _live_subscription(deps: Dependencies, account_id: str) -> tuple[AccountState, Subscription]:
    with deps.uow() as uow:
        state = uow.accounts.state(account_id)
    subscription = state.subscription
    if subscription is None or subscription.status.is_terminal:
        raise FailedPrecondition(
            f"account {account_id!r} has no live subscription",
            reason="NO_LIVE_SUBSCRIPTION",
            metadata={"account_id": account_id},
        )
    return state, subscription


def _apply(
    deps: Dependencies,
    state: AccountState,
    request: Callable[[], SubscriptionSnapshot],
    audit: AuditEntry,
    done: Completion[AccountState] | None,
) -> AccountState:
    """Asks Stripe for the change and records Stripe's answer at once, so that
    CheckPlan sees it before any webhook arrives; the audit entry and the
    call's answer commit with it."""
    request_started = deps.clock()
    snapshot = request()
    _, updated = record_fetched(
        deps, state.account_id, snapshot, request_started, audit=audit, done=done
    )
    return updated
