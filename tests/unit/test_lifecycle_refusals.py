"""ChangePlan and cancel refusals decided from the request and the catalogue alone."""

from __future__ import annotations

import pytest

from billing_server.domain.errors import BillingError, FailedPrecondition, InvalidArgument, NotFound
from billing_server.domain.plans import Proration
from billing_server.service_layer import lifecycle
from billing_server.service_layer.dependencies import Dependencies
from tests.fakes import FakeStripeGateway
from tests.unit.fake_unit_of_work import FakeDatabase


@pytest.mark.parametrize(
    ("account_id", "plan", "refusal", "reason"),
    [
        ("", "pro", InvalidArgument, None),
        ("acct_1", "gold", NotFound, None),
        ("acct_1", "free", FailedPrecondition, "PLAN_NOT_PURCHASABLE"),
    ],
)
def test_change_plan_refuses_before_reading_or_calling_stripe(
    deps: Dependencies,
    database: FakeDatabase,
    stripe: FakeStripeGateway,
    account_id: str,
    plan: str,
    refusal: type[BillingError],
    reason: str | None,
) -> None:
    with pytest.raises(refusal) as error:
        lifecycle.change_plan(
            deps,
            account_id=account_id,
            plan_name=plan,
            proration=Proration.NONE,
            idempotency_key=None,
            actor="test",
        )
    if reason is not None:
        assert error.value.reason == reason
    assert (database.commits, stripe.calls) == (0, [])


def test_cancel_refuses_a_missing_account_id(
    deps: Dependencies, database: FakeDatabase, stripe: FakeStripeGateway
) -> None:
    with pytest.raises(InvalidArgument) as error:
        lifecycle.cancel_subscription(
            deps,
            account_id="",
            timing=lifecycle.CancellationTiming.IMMEDIATELY,
            idempotency_key=None,
            actor="test",
        )
    assert error.value.field == "account_id"
    assert (database.commits, stripe.calls) == (0, [])
