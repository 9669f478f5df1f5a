"""Translations between billing.v1 messages and the domain."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from billing.v1 import billing_pb2
from billing_server.domain.checkouts import CheckoutSession
from billing_server.domain.entitlements import DenialReason
from billing_server.domain.errors import InvalidArgument
from billing_server.domain.plans import Plan, Proration
from billing_server.domain.subscriptions import AccountState, SubscriptionStatus
from billing_server.service_layer.entitlement_checks import Checked, Entitled, Source
from billing_server.service_layer.lifecycle import CancellationTiming

_STATUS = {
    None: billing_pb2.SUBSCRIPTION_STATUS_NONE,
    SubscriptionStatus.ACTIVE: billing_pb2.SUBSCRIPTION_STATUS_ACTIVE,
    SubscriptionStatus.TRIALING: billing_pb2.SUBSCRIPTION_STATUS_TRIALING,
    SubscriptionStatus.PAST_DUE: billing_pb2.SUBSCRIPTION_STATUS_PAST_DUE,
    SubscriptionStatus.CANCELED: billing_pb2.SUBSCRIPTION_STATUS_CANCELED,
    SubscriptionStatus.UNPAID: billing_pb2.SUBSCRIPTION_STATUS_UNPAID,
    SubscriptionStatus.INCOMPLETE: billing_pb2.SUBSCRIPTION_STATUS_INCOMPLETE,
    SubscriptionStatus.INCOMPLETE_EXPIRED: billing_pb2.SUBSCRIPTION_STATUS_INCOMPLETE_EXPIRED,
    SubscriptionStatus.PAUSED: billing_pb2.SUBSCRIPTION_STATUS_PAUSED,
}

_DENIAL = {
    None: billing_pb2.DENIAL_REASON_UNSPECIFIED,
    DenialReason.NO_SUBSCRIPTION: billing_pb2.DENIAL_REASON_NO_SUBSCRIPTION,
    DenialReason.PLAN_TOO_LOW: billing_pb2.DENIAL_REASON_PLAN_TOO_LOW,
    DenialReason.FEATURE_NOT_INCLUDED: billing_pb2.DENIAL_REASON_FEATURE_NOT_INCLUDED,
    DenialReason.SUBSCRIPTION_CANCELED: billing_pb2.DENIAL_REASON_SUBSCRIPTION_CANCELED,
    DenialReason.PAYMENT_OVERDUE: billing_pb2.DENIAL_REASON_PAYMENT_OVERDUE,
    DenialReason.SUBSCRIPTION_INACTIVE: billing_pb2.DENIAL_REASON_SUBSCRIPTION_INACTIVE,
}

_PRORATION = {
    billing_pb2.PRORATION_BEHAVIOR_UNSPECIFIED: Proration.CREATE_PRORATIONS,
    billing_pb2.PRORATION_BEHAVIOR_CREATE_PRORATIONS: Proration.CREATE_PRORATIONS,
    billing_pb2.PRORATION_BEHAVIOR_ALWAYS_INVOICE: Proration.ALWAYS_INVOICE,
    billing_pb2.PRORATION_BEHAVIOR_NONE: Proration.NONE,
}

_TIMING = {
    billing_pb2.CANCELLATION_TIMING_AT_PERIOD_END: CancellationTiming.AT_PERIOD_END,
    billing_pb2.CANCELLATION_TIMING_IMMEDIATELY: CancellationTiming.IMMEDIATELY,
}


def timestamp(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


_SOURCE = {
    Source.VIEW: billing_pb2.ANSWER_SOURCE_VIEW,
    Source.DATABASE: billing_pb2.ANSWER_SOURCE_DATABASE,
}


def checked(answer: Checked) -> billing_pb2.CheckPlanResponse:
    d = answer.decision
    return billing_pb2.CheckPlanResponse(
        allowed=d.allowed,
        denial_reason=_DENIAL[d.denial_reason],
        plan=d.plan or "",
        status=_STATUS[d.status],
        current_period_end=timestamp(d.current_period_end),
        valid_until=timestamp(d.valid_until),
        state_version=d.state_version,
        state_updated_at=timestamp(d.state_updated_at),
        required_plan=d.required_plan or "",
        grace_period_end=timestamp(d.grace_period_end),
        source=_SOURCE[answer.source],
        stale=answer.freshness.stale,
        known_current_at=timestamp(answer.freshness.known_current_at),
    )


def entitled(answer: Entitled) -> billing_pb2.GetEntitlementsResponse:
    e = answer.entitlements
    return billing_pb2.GetEntitlementsResponse(
        plan=e.plan.name if e.plan else "",
        plan_rank=e.plan.rank if e.plan else 0,
        status=_STATUS[e.status],
        features=sorted(e.features),
        limits=dict(e.plan.limits) if e.plan else {},
        valid_until=timestamp(e.valid_until),
        current_period_end=timestamp(e.current_period_end),
        grace_period_end=timestamp(e.grace_period_end),
        denial_reason=_DENIAL[e.denial_reason],
        state_version=e.state_version,
        state_updated_at=timestamp(e.state_updated_at),
        source=_SOURCE[answer.source],
        stale=answer.freshness.stale,
        known_current_at=timestamp(answer.freshness.known_current_at),
    )


def plans(catalog_plans: Sequence[Plan]) -> billing_pb2.ListPlansResponse:
    return billing_pb2.ListPlansResponse(
        plans=[
            billing_pb2.Plan(
                name=p.name,
                display_name=p.display_name,
                rank=p.rank,
                features=sorted(p.features),
                purchasable=p.purchasable,
            )
            for p in catalog_plans
        ]
    )


def subscription(state: AccountState) -> billing_pb2.Subscription:
    sub = state.subscription
    assert sub is not None
    return billing_pb2.Subscription(
        account_id=state.account_id,
        plan=sub.plan,
        status=_STATUS[sub.status],
        stripe_customer_id=sub.customer_id,
        stripe_subscription_id=sub.id,
        current_period_start=timestamp(sub.current_period_start),
        current_period_end=timestamp(sub.current_period_end),
        cancel_at_period_end=sub.cancel_at_period_end,
        cancel_at=timestamp(sub.cancel_at),
        canceled_at=timestamp(sub.canceled_at),
        past_due_since=timestamp(sub.past_due_since),
        state_version=state.state_version,
        state_updated_at=timestamp(state.state_updated_at),
    )


def checkout(session: CheckoutSession) -> billing_pb2.CreateCheckoutResponse:
    return billing_pb2.CreateCheckoutResponse(
        session_id=session.id, url=session.url or "", expires_at=timestamp(session.expires_at)
    )


def proration(value: billing_pb2.ProrationBehavior.ValueType) -> Proration:
    try:
        return _PRORATION[value]
    except KeyError:
        raise InvalidArgument(
            f"unknown proration_behavior {value}", field="proration_behavior"
        ) from None


def cancellation_timing(value: billing_pb2.CancellationTiming.ValueType) -> CancellationTiming:
    try:
        return _TIMING[value]
    except KeyError:
        raise InvalidArgument(
            "timing must be CANCELLATION_TIMING_AT_PERIOD_END or CANCELLATION_TIMING_IMMEDIATELY",
            field="timing",
        ) from None
