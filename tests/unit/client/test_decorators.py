"""requires_plan / requires_feature keep signatures and find the account."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator

import pytest

from billing_client import (
    DenialReason,
    FeatureRequired,
    PermissionDenied,
    PlanRequired,
    configure,
    requires_feature,
    requires_plan,
)
from billing_client.testing import FakeBillingClient

pytestmark = pytest.mark.unit


@pytest.fixture
def fake() -> Iterator[FakeBillingClient]:
    fake = FakeBillingClient()
    fake.set_plan("acct_pro", "pro")
    configure(client=fake, async_client=fake.aio)
    yield fake
    configure()


def test_the_wrapped_function_keeps_name_doc_and_signature(fake: FakeBillingClient) -> None:
    def export(account_id: str, fmt: str = "csv", *, limit: int = 10) -> bytes:
        """Exports things."""
        return b""

    protected = requires_plan("pro")(export)

    assert inspect.signature(protected) == inspect.signature(export)
    assert protected.__name__ == "export"
    assert protected.__doc__ == "Exports things."
    assert protected.__wrapped__ is export  # type: ignore[attr-defined]


def test_allowed_calls_go_through_with_their_arguments(fake: FakeBillingClient) -> None:
    @requires_plan("pro")
    def export(account_id: str, fmt: str = "csv", *, limit: int = 10) -> str:
        return f"{account_id}:{fmt}:{limit}"

    # The assignments are typed: mypy --strict checks that the signature survived.
    positional: str = export("acct_pro", "json", limit=3)
    by_keyword: str = export(account_id="acct_pro")

    assert positional == "acct_pro:json:3"
    assert by_keyword == "acct_pro:csv:10"


def test_denials_raise_plan_required_with_the_answer(fake: FakeBillingClient) -> None:
    @requires_plan("enterprise")
    def sso(account_id: str) -> None:
        raise AssertionError("must not run")

    with pytest.raises(PlanRequired) as denied:
        sso("acct_pro")

    error = denied.value
    assert isinstance(error, PermissionDenied)
    assert error.account_id == "acct_pro"
    assert error.requirement == "enterprise"
    assert error.denial_reason is DenialReason.PLAN_TOO_LOW
    assert error.required_plan == "enterprise"
    assert error.check.plan == "pro"
    assert error.reason == "PLAN_REQUIRED"


def test_feature_denials_raise_feature_required(fake: FakeBillingClient) -> None:
    @requires_feature("sso")
    def login(account_id: str) -> str:
        return "in"

    @requires_feature("exports")
    def export(account_id: str) -> str:
        return "done"

    assert export("acct_pro") == "done"
    with pytest.raises(FeatureRequired) as denied:
        login("acct_pro")
    assert denied.value.denial_reason is DenialReason.FEATURE_NOT_INCLUDED
    assert denied.value.required_plan == "enterprise"


def test_account_from_a_named_parameter_of_a_method(fake: FakeBillingClient) -> None:
    class Reports:
        @requires_plan("pro", account="owner")
        def build(self, title: str, owner: str = "acct_pro") -> str:
            return title

    assert Reports().build("q1") == "q1"  # from the default
    assert Reports().build("q2", "acct_pro") == "q2"
    with pytest.raises(PlanRequired):
        Reports().build("q3", owner="acct_free")


def test_account_from_a_callable_receiving_bound_arguments(fake: FakeBillingClient) -> None:
    class Request:
        def __init__(self, account: str) -> None:
            self.account = account

    @requires_plan("pro", account=lambda bound: bound.arguments["request"].account)
    def handle(request: Request) -> str:
        return "handled"

    assert handle(Request("acct_pro")) == "handled"
    with pytest.raises(PlanRequired):
        handle(Request("acct_other"))


def test_an_unknown_parameter_name_fails_at_decoration_time(fake: FakeBillingClient) -> None:
    with pytest.raises(TypeError, match="no parameter 'account_id'"):

        @requires_plan("pro")
        def handle(user: str) -> None:
            pass


def test_a_non_string_account_is_refused(fake: FakeBillingClient) -> None:
    @requires_plan("pro")
    def handle(account_id: object) -> None:
        pass

    with pytest.raises(TypeError, match="account id must be a non-empty str"):
        handle(42)


def test_coroutine_functions_stay_coroutine_functions(fake: FakeBillingClient) -> None:
    @requires_plan("pro")
    async def export(account_id: str, fmt: str = "csv") -> str:
        return fmt

    assert inspect.iscoroutinefunction(export)
    assert asyncio.run(export("acct_pro", "json")) == "json"
    with pytest.raises(PlanRequired):
        asyncio.run(export("acct_free"))


def test_an_explicit_client_wins_over_the_default(fake: FakeBillingClient) -> None:
    other = FakeBillingClient()
    other.set_plan("acct_free", "enterprise")

    @requires_plan("enterprise", client=other)
    def sso(account_id: str) -> str:
        return "in"

    assert sso("acct_free") == "in"
    assert other.calls == [("check_plan", "acct_free")]
    assert fake.calls == []


def test_without_client_or_configuration_the_call_fails_clearly() -> None:
    @requires_plan("pro")
    def export(account_id: str) -> None:
        pass

    with pytest.raises(RuntimeError, match="configure"):
        export("acct_1")
