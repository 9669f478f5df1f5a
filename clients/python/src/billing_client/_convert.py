"""Protobuf messages in, the library's dataclasses out (and requests built)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from billing.v1 import billing_pb2
from billing_client._types import (
    CancellationTiming,
    CheckoutSession,
    DenialReason,
    Entitlements,
    Plan,
    PlanCheck,
    PortalSession,
    Proration,
    Subscription,
    SubscriptionStatus,
)

_PRORATION = {
    None: billing_pb2.PRORATION_BEHAVIOR_UNSPECIFIED,
    Proration.CREATE_PRORATIONS: billing_pb2.PRORATION_BEHAVIOR_CREATE_PRORATIONS,
    Proration.ALWAYS_INVOICE: billing_pb2.PRORATION_BEHAVIOR_ALWAYS_INVOICE,
    Proration.NONE: billing_pb2.PRORATION_BEHAVIOR_NONE,
}
_TIMING = {
    CancellationTiming.AT_PERIOD_END: billing_pb2.CANCELLATION_TIMING_AT_PERIOD_END,
    CancellationTiming.IMMEDIATELY: billing_pb2.CANCELLATION_TIMING_IMMEDIATELY,
}


def _enum_value(enum_type: Any, number: int, prefix: str) -> str:
    try:
        return str(enum_type.Name(number)).removeprefix(prefix).lower()
    except ValueError:  # a value added to the .proto after this client was built
        return "unknown"


def _status(number: int) -> SubscriptionStatus:
    name = _enum_value(billing_pb2.SubscriptionStatus, number, "SUBSCRIPTION_STATUS_")
    try:
        return SubscriptionStatus(name)
    except ValueError:
        return SubscriptionStatus.UNKNOWN


def _denial(number: int) -> DenialReason | None:
    if number == billing_pb2.DENIAL_REASON_UNSPECIFIED:
        return None
    name = _enum_value(billing_pb2.DenialReason, number, "DENIAL_REASON_")
    try:
        return DenialReason(name)
    except ValueError:
        return DenialReason.UNKNOWN


def _time(message: Any, field: str) -> datetime | None:
    if not message.HasField(field):
        return None
    return getattr(message, field).ToDatetime(tzinfo=UTC)  # type: ignore[no-any-return]


def plan_check(answer: billing_pb2.CheckPlanResponse) -> PlanCheck:
    return PlanCheck(
        allowed=answer.allowed,
        denial_reason=_denial(answer.denial_reason),
        plan=answer.plan or None,
        status=_status(answer.status),
        current_period_end=_time(answer, "current_period_end"),
        valid_until=_time(answer, "valid_until"),
        grace_period_end=_time(answer, "grace_period_end"),
        state_version=answer.state_version,
        state_updated_at=_time(answer, "state_updated_at"),
        required_plan=answer.required_plan or None,
        stale=answer.stale,
        known_current_at=_time(answer, "known_current_at"),
    )


def entitlements(answer: billing_pb2.GetEntitlementsResponse) -> Entitlements:
    return Entitlements(
        plan=answer.plan or None,
        plan_rank=answer.plan_rank,
        status=_status(answer.status),
        features=frozenset(answer.features),
        limits=dict(answer.limits),
        valid_until=_time(answer, "valid_until"),
        current_period_end=_time(answer, "current_period_end"),
        grace_period_end=_time(answer, "grace_period_end"),
        denial_reason=_denial(answer.denial_reason),
        state_version=answer.state_version,
        state_updated_at=_time(answer, "state_updated_at"),
        stale=answer.stale,
        known_current_at=_time(answer, "known_current_at"),
    )


def plan_checks(entitled: Entitlements, plans: list[Plan]) -> dict[tuple[str, str], PlanCheck]:
    """The answer CheckPlan would give for every plan and feature of the
    catalogue, from one GetEntitlements answer (the server's rule: a plan
    satisfies lower-ranked ones; a feature needs a plan that lists it)."""
    entitled_plan = entitled.plan
    answers: dict[tuple[str, str], PlanCheck] = {}

    def answer(allowed: bool, shortfall: DenialReason, required: str) -> PlanCheck:
        return PlanCheck(
            allowed=allowed,
            denial_reason=None if allowed else (entitled.denial_reason or shortfall),
            plan=entitled_plan,
            status=entitled.status,
            current_period_end=entitled.current_period_end,
            valid_until=entitled.valid_until,
            grace_period_end=entitled.grace_period_end,
            state_version=entitled.state_version,
            state_updated_at=entitled.state_updated_at,
            required_plan=None if allowed else required,
            stale=entitled.stale,
            known_current_at=entitled.known_current_at,
        )

    for required in plans:
        allowed = entitled_plan is not None and entitled.plan_rank >= required.rank
        answers[("plan", required.name)] = answer(allowed, DenialReason.PLAN_TOO_LOW, required.name)
    for candidate in sorted(plans, key=lambda p: p.rank):
        for feature in candidate.features:
            if ("feature", feature) not in answers:  # the lowest plan that has it
                allowed = feature in entitled.features
                answers[("feature", feature)] = answer(
                    allowed, DenialReason.FEATURE_NOT_INCLUDED, candidate.name
                )
    return answers


def plan(message: billing_pb2.Plan) -> Plan:
    return Plan(
        name=message.name,
        display_name=message.display_name,
        rank=message.rank,
        features=tuple(message.features),
        purchasable=message.purchasable,
    )


def subscription(message: billing_pb2.Subscription) -> Subscription:
    return Subscription(
        account_id=message.account_id,
        plan=message.plan,
        status=_status(message.status),
        stripe_customer_id=message.stripe_customer_id,
        stripe_subscription_id=message.stripe_subscription_id,
        current_period_start=_time(message, "current_period_start"),
        current_period_end=_time(message, "current_period_end"),
        cancel_at_period_end=message.cancel_at_period_end,
        canceled_at=_time(message, "canceled_at"),
        past_due_since=_time(message, "past_due_since"),
        state_version=message.state_version,
        state_updated_at=_time(message, "state_updated_at"),
    )


def checkout_session(message: billing_pb2.CreateCheckoutResponse) -> CheckoutSession:
    return CheckoutSession(
        session_id=message.session_id, url=message.url, expires_at=_time(message, "expires_at")
    )


def portal_session(message: billing_pb2.CreatePortalSessionResponse) -> PortalSession:
    return PortalSession(url=message.url)


# Requests -----------------------------------------------------------------


def requirement(plan: str | None, feature: str | None) -> tuple[str, str]:
    """("plan", name) or ("feature", key); exactly one must be given."""
    if (plan is None) == (feature is None):
        raise ValueError("give exactly one of plan= or feature=")
    return ("plan", plan) if plan is not None else ("feature", feature)  # type: ignore[return-value]


def check_plan_request(
    account_id: str, kind: str, name: str, min_state_version: int = 0
) -> billing_pb2.CheckPlanRequest:
    request = billing_pb2.CheckPlanRequest(
        account_id=account_id, min_state_version=min_state_version
    )
    if kind == "plan":
        request.plan = name
    else:
        request.feature = name
    return request


def idempotency_key(given: str | None) -> str:
    # One key per logical call: gRPC's retries resend these very bytes, so the
    # server sees the same key and replays instead of acting twice.
    return given if given is not None else uuid.uuid4().hex


def create_checkout_request(
    account_id: str,
    plan: str,
    customer_email: str | None,
    key: str | None,
    trial_days: int | None = None,
) -> billing_pb2.CreateCheckoutRequest:
    request = billing_pb2.CreateCheckoutRequest(
        account_id=account_id, plan=plan, idempotency_key=idempotency_key(key)
    )
    if customer_email is not None:
        request.customer_email = customer_email
    if trial_days is not None:
        request.trial_days = trial_days
    return request


def change_plan_request(
    account_id: str, plan: str, proration: Proration | None, key: str | None
) -> billing_pb2.ChangePlanRequest:
    return billing_pb2.ChangePlanRequest(
        account_id=account_id,
        plan=plan,
        proration_behavior=_PRORATION[proration],
        idempotency_key=idempotency_key(key),
    )


def cancel_request(
    account_id: str, timing: CancellationTiming, key: str | None
) -> billing_pb2.CancelSubscriptionRequest:
    return billing_pb2.CancelSubscriptionRequest(
        account_id=account_id, timing=_TIMING[timing], idempotency_key=idempotency_key(key)
    )
