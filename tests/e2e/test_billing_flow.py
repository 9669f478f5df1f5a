"""The whole lifecycle through a real billing-server and the Stripe emulator."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from sqlalchemy import func, select

from billing.v1 import billing_pb2, billing_pb2_grpc
from billing_server.adapters.database import make_engine
from billing_server.adapters.orm import AccountRow, IdempotencyRecordRow
from tests.e2e.conftest import BillingServer, Emulator

pytestmark = pytest.mark.e2e

CHECKOUT_ROUTE = "POST /v1/checkout/sessions"


def check(
    stub: billing_pb2_grpc.BillingServiceStub,
    account: str,
    *,
    plan: str | None = None,
    feature: str | None = None,
) -> billing_pb2.CheckPlanResponse:
    request = billing_pb2.CheckPlanRequest(account_id=account)
    if plan is not None:
        request.plan = plan
    if feature is not None:
        request.feature = feature
    return stub.CheckPlan(request, timeout=5)


def subscribe(
    stub: billing_pb2_grpc.BillingServiceStub, emulator: Emulator, account: str, plan: str
) -> billing_pb2.Subscription:
    session = stub.CreateCheckout(
        billing_pb2.CreateCheckoutRequest(
            account_id=account, plan=plan, idempotency_key=uuid.uuid4().hex
        ),
        timeout=10,
    )
    emulator.complete_checkout(session.session_id)
    confirmed = stub.ConfirmCheckout(
        billing_pb2.ConfirmCheckoutRequest(session_id=session.session_id, account_id=account),
        timeout=10,
    )
    return confirmed.subscription


def error_reason(error: grpc.RpcError) -> str:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return str(info.reason)
    raise AssertionError("no ErrorInfo in the status details")


def test_checkout_confirm_change_and_cancel(
    stub: billing_pb2_grpc.BillingServiceStub, emulator: Emulator, account_id: str
) -> None:
    before = check(stub, account_id, plan="pro")
    assert not before.allowed
    assert before.denial_reason == billing_pb2.DENIAL_REASON_NO_SUBSCRIPTION
    assert before.plan == "free"

    session = stub.CreateCheckout(
        billing_pb2.CreateCheckoutRequest(
            account_id=account_id,
            plan="pro",
            customer_email="buyer@example.com",
            idempotency_key=uuid.uuid4().hex,
        ),
        timeout=10,
    )
    assert session.session_id.startswith("cs_")
    assert session.url

    emulator.complete_checkout(session.session_id)
    confirmed = stub.ConfirmCheckout(
        billing_pb2.ConfirmCheckoutRequest(session_id=session.session_id), timeout=10
    ).subscription
    assert confirmed.plan == "pro"
    assert confirmed.status == billing_pb2.SUBSCRIPTION_STATUS_ACTIVE
    assert confirmed.stripe_subscription_id.startswith("sub_")
    assert confirmed.current_period_end.seconds > confirmed.current_period_start.seconds

    allowed = check(stub, account_id, plan="pro")
    assert allowed.allowed
    assert allowed.plan == "pro"
    assert allowed.state_version == confirmed.state_version > before.state_version
    assert allowed.current_period_end == confirmed.current_period_end
    assert check(stub, account_id, feature="exports").allowed
    assert not check(stub, account_id, feature="sso").allowed

    fetched = stub.GetSubscription(
        billing_pb2.GetSubscriptionRequest(account_id=account_id), timeout=5
    )
    assert fetched.subscription == confirmed

    changed = stub.ChangePlan(
        billing_pb2.ChangePlanRequest(
            account_id=account_id,
            plan="enterprise",
            idempotency_key=uuid.uuid4().hex,
            proration_behavior=billing_pb2.PRORATION_BEHAVIOR_ALWAYS_INVOICE,
        ),
        timeout=10,
    ).subscription
    assert changed.plan == "enterprise"
    assert check(stub, account_id, feature="sso").allowed

    scheduled = stub.CancelSubscription(
        billing_pb2.CancelSubscriptionRequest(
            account_id=account_id,
            timing=billing_pb2.CANCELLATION_TIMING_AT_PERIOD_END,
            idempotency_key=uuid.uuid4().hex,
        ),
        timeout=10,
    ).subscription
    assert scheduled.cancel_at_period_end
    still = check(stub, account_id, plan="enterprise")
    assert still.allowed
    assert still.valid_until == scheduled.current_period_end

    canceled = stub.CancelSubscription(
        billing_pb2.CancelSubscriptionRequest(
            account_id=account_id,
            timing=billing_pb2.CANCELLATION_TIMING_IMMEDIATELY,
            idempotency_key=uuid.uuid4().hex,
        ),
        timeout=10,
    ).subscription
    assert canceled.status == billing_pb2.SUBSCRIPTION_STATUS_CANCELED
    after = check(stub, account_id, plan="pro")
    assert not after.allowed
    assert after.denial_reason == billing_pb2.DENIAL_REASON_SUBSCRIPTION_CANCELED
    assert check(stub, account_id, plan="free").allowed


def test_check_plan_reads_the_database_only(
    stub: billing_pb2_grpc.BillingServiceStub, emulator: Emulator, account_id: str
) -> None:
    subscribe(stub, emulator, account_id, "pro")
    before = emulator.total_requests()
    for requirement in ({"plan": "pro"}, {"plan": "enterprise"}, {"feature": "exports"}) * 5:
        check(stub, account_id, **requirement)
    assert emulator.total_requests() == before


def test_portal_session_for_a_customer(
    stub: billing_pb2_grpc.BillingServiceStub, emulator: Emulator, account_id: str
) -> None:
    subscribe(stub, emulator, account_id, "pro")
    portal = stub.CreatePortalSession(
        billing_pb2.CreatePortalSessionRequest(account_id=account_id), timeout=10
    )
    assert portal.url.startswith("http")


def test_twenty_concurrent_checkouts_with_one_key_make_one_session(
    stub: billing_pb2_grpc.BillingServiceStub, emulator: Emulator, account_id: str
) -> None:
    request = billing_pb2.CreateCheckoutRequest(
        account_id=account_id, plan="pro", idempotency_key=f"checkout-{uuid.uuid4().hex}"
    )
    sessions_before = emulator.requests_to(CHECKOUT_ROUTE)
    customers_before = emulator.requests_to("POST /v1/customers")

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda _: stub.CreateCheckout(request, timeout=30), range(20)))

    assert len({a.session_id for a in answers}) == 1
    assert emulator.requests_to(CHECKOUT_ROUTE) - sessions_before == 1
    assert emulator.requests_to("POST /v1/customers") - customers_before == 1


def test_a_reused_key_with_another_request_is_refused(
    stub: billing_pb2_grpc.BillingServiceStub, account_id: str
) -> None:
    key = uuid.uuid4().hex
    stub.CreateCheckout(
        billing_pb2.CreateCheckoutRequest(account_id=account_id, plan="pro", idempotency_key=key),
        timeout=10,
    )
    with pytest.raises(grpc.RpcError) as error:
        stub.CreateCheckout(
            billing_pb2.CreateCheckoutRequest(
                account_id=account_id, plan="enterprise", idempotency_key=key
            ),
            timeout=10,
        )
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_reason(error.value) == "IDEMPOTENCY_KEY_REUSED"


@pytest.mark.parametrize(
    ("request_fields", "code", "reason"),
    [
        ({"plan": "platinum"}, grpc.StatusCode.NOT_FOUND, "PLAN_NOT_FOUND"),
        ({"account_id": "", "plan": "pro"}, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
        (
            {"account_id": "a" * 5000, "plan": "pro"},
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ARGUMENT",
        ),
        ({"plan": "p" * 5000}, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
        (
            {"plan": "pro", "idempotency_key": "k" * 300},
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ARGUMENT",
        ),
        *(
            (
                {"plan": "pro", "customer_email": email},
                grpc.StatusCode.INVALID_ARGUMENT,
                "INVALID_ARGUMENT",
            )
            for email in ("nope", "jane\x00@example.com", "a@b", "<script>@x.com")
        ),
        ({"plan": "free"}, grpc.StatusCode.FAILED_PRECONDITION, "PLAN_NOT_PURCHASABLE"),
        ({"plan": "pro", "trial_days": 31}, grpc.StatusCode.INVALID_ARGUMENT, "TRIAL_TOO_LONG"),
    ],
)
def test_bad_checkout_input_is_refused_and_writes_nothing(
    stub: billing_pb2_grpc.BillingServiceStub,
    emulator: Emulator,
    billing_server: BillingServer,
    account_id: str,
    request_fields: dict[str, Any],
    code: grpc.StatusCode,
    reason: str,
) -> None:
    fields = {"account_id": account_id, "idempotency_key": uuid.uuid4().hex, **request_fields}
    stripe_calls = emulator.requests_to(CHECKOUT_ROUTE) + emulator.requests_to("POST /v1/customers")

    with pytest.raises(grpc.RpcError) as error:
        stub.CreateCheckout(billing_pb2.CreateCheckoutRequest(**fields), timeout=10)

    assert error.value.code() == code
    assert error_reason(error.value) == reason
    assert "Traceback" not in (error.value.details() or "")
    after = emulator.requests_to(CHECKOUT_ROUTE) + emulator.requests_to("POST /v1/customers")
    assert after == stripe_calls
    engine = make_engine(billing_server.env["SQLALCHEMY_DATABASE_URI"])
    try:
        with engine.connect() as connection:
            accounts = connection.scalar(
                select(func.count())
                .select_from(AccountRow)
                .where(AccountRow.account_id == account_id)
            )
    finally:
        engine.dispose()
    assert accounts == 0


def test_unknown_requirements_and_missing_subscriptions(
    stub: billing_pb2_grpc.BillingServiceStub, account_id: str
) -> None:
    with pytest.raises(grpc.RpcError) as unknown:
        check(stub, account_id, feature="teleport")
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    assert error_reason(unknown.value) == "FEATURE_NOT_FOUND"

    with pytest.raises(grpc.RpcError) as neither:
        stub.CheckPlan(billing_pb2.CheckPlanRequest(account_id=account_id), timeout=5)
    assert neither.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    with pytest.raises(grpc.RpcError) as missing:
        stub.GetSubscription(billing_pb2.GetSubscriptionRequest(account_id=account_id), timeout=5)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND

    with pytest.raises(grpc.RpcError) as no_sub:
        stub.CancelSubscription(
            billing_pb2.CancelSubscriptionRequest(
                account_id=account_id, timing=billing_pb2.CANCELLATION_TIMING_IMMEDIATELY
            ),
            timeout=5,
        )
    assert no_sub.value.code() == grpc.StatusCode.FAILED_PRECONDITION

    with pytest.raises(grpc.RpcError) as no_timing:
        stub.CancelSubscription(
            billing_pb2.CancelSubscriptionRequest(account_id=account_id), timeout=5
        )
    assert no_timing.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_confirming_an_unpaid_or_unknown_session_is_refused(
    stub: billing_pb2_grpc.BillingServiceStub, account_id: str
) -> None:
    session = stub.CreateCheckout(
        billing_pb2.CreateCheckoutRequest(account_id=account_id, plan="pro"), timeout=10
    )
    with pytest.raises(grpc.RpcError) as unpaid:
        stub.ConfirmCheckout(
            billing_pb2.ConfirmCheckoutRequest(session_id=session.session_id), timeout=10
        )
    assert unpaid.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_reason(unpaid.value) == "CHECKOUT_NOT_COMPLETE"

    with pytest.raises(grpc.RpcError) as unknown:
        stub.ConfirmCheckout(
            billing_pb2.ConfirmCheckoutRequest(session_id="cs_test_nope"), timeout=10
        )
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND


def test_idempotency_records_carry_their_creation_time(
    stub: billing_pb2_grpc.BillingServiceStub, billing_server: BillingServer, account_id: str
) -> None:
    key = uuid.uuid4().hex
    stub.CreateCheckout(
        billing_pb2.CreateCheckoutRequest(account_id=account_id, plan="pro", idempotency_key=key),
        timeout=10,
    )
    engine = make_engine(billing_server.env["SQLALCHEMY_DATABASE_URI"])
    try:
        with engine.connect() as connection:
            row = connection.execute(
                select(IdempotencyRecordRow.state, IdempotencyRecordRow.created_at).where(
                    IdempotencyRecordRow.key == key
                )
            ).one()
    finally:
        engine.dispose()
    assert row.state == "succeeded"
    assert row.created_at is not None
