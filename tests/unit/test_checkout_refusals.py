"""Checkout's refusals, decided before any write: no database needed."""

from __future__ import annotations

import dataclasses

import pytest

from billing_server.domain.checkouts import CheckoutSession
from billing_server.domain.errors import (
    BillingError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from billing_server.service_layer import checkout
from billing_server.service_layer.dependencies import Dependencies
from tests.fakes import FakeStripeGateway
from tests.unit.fake_unit_of_work import FakeDatabase


@pytest.mark.parametrize(
    ("plan", "email", "refusal", "reason"),
    [
        ("gold", None, NotFound, None),
        ("free", None, FailedPrecondition, "PLAN_NOT_PURCHASABLE"),
        ("pro", "not an address", InvalidArgument, None),
    ],
)
def test_checkout_refuses_before_touching_anything(
    deps: Dependencies,
    database: FakeDatabase,
    stripe: FakeStripeGateway,
    plan: str,
    email: str | None,
    refusal: type[BillingError],
    reason: str | None,
) -> None:
    with pytest.raises(refusal) as error:
        checkout.create_checkout(
            deps,
            account_id="acct_1",
            plan_name=plan,
            customer_email=email,
            idempotency_key=None,
            actor="test",
        )
    if reason is not None:
        assert error.value.reason == reason
    assert (database.commits, stripe.calls) == (0, [])


@pytest.mark.parametrize(
    ("account", "plan", "email", "field"),
    [
        ("", "pro", None, "account_id"),
        ("x" * 129, "pro", None, "account_id"),
        ("has space", "pro", None, "account_id"),
        ("acct_ok", "", None, "plan"),
        ("acct_ok", "p" * 65, None, "plan"),
        ("acct_ok", "pro", "not-an-email", "customer_email"),
        ("acct_ok", "pro", "a@" + "b" * 300, "customer_email"),
        ("acct_ok", "pro", "jane\x00@example.com", "customer_email"),
        ("acct_ok", "pro", "jane@exa\x07mple.com", "customer_email"),
        ("acct_ok", "pro", "a@b", "customer_email"),
        ("acct_ok", "pro", "<script>@x.com", "customer_email"),
        ("acct_ok", "pro", "jane@@example.com", "customer_email"),
        ("acct_ok", "pro", "jane@ex@ample.com", "customer_email"),
        ("acct_ok", "pro", "jane doe@example.com", "customer_email"),
    ],
)
def test_bad_input_is_an_invalid_argument_naming_the_field(
    deps: Dependencies,
    database: FakeDatabase,
    stripe: FakeStripeGateway,
    account: str,
    plan: str,
    email: str | None,
    field: str,
) -> None:
    with pytest.raises(InvalidArgument) as error:
        checkout.create_checkout(
            deps,
            account_id=account,
            plan_name=plan,
            customer_email=email,
            idempotency_key=None,
            actor="test",
        )
    assert error.value.field == field
    assert (database.commits, stripe.calls) == (0, [])


def _session(**changes: object) -> CheckoutSession:
    base = CheckoutSession(
        id="cs_test_1",
        url=None,
        status="complete",
        customer_id="cus_1",
        client_reference_id="acct_1",
        metadata={},
        expires_at=None,
        subscription=None,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("session", "account_id", "refusal", "reason"),
    [
        (_session(client_reference_id=None), None, FailedPrecondition, "CHECKOUT_NOT_OURS"),
        (_session(), "acct_2", PermissionDenied, "CHECKOUT_ACCOUNT_MISMATCH"),
        (_session(status="open"), None, FailedPrecondition, "CHECKOUT_NOT_COMPLETE"),
        (_session(), None, FailedPrecondition, "CHECKOUT_NOT_COMPLETE"),
    ],
)
def test_confirm_refuses_a_session_that_is_not_ours_or_not_paid(
    deps: Dependencies,
    database: FakeDatabase,
    stripe: FakeStripeGateway,
    session: CheckoutSession,
    account_id: str | None,
    refusal: type[BillingError],
    reason: str,
) -> None:
    stripe.sessions[session.id] = session
    with pytest.raises(refusal) as error:
        checkout.confirm_checkout(deps, session_id=session.id, account_id=account_id, actor="test")
    assert error.value.reason == reason
    assert database.commits == 0


def test_confirm_refuses_a_malformed_session_id(deps: Dependencies) -> None:
    with pytest.raises(InvalidArgument) as error:
        checkout.confirm_checkout(deps, session_id="nope", account_id=None, actor="test")
    assert error.value.field == "session_id"
