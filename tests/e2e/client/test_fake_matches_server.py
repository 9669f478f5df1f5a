"""The client's fake answers as the server does: one scenario table, run
against ``FakeBillingClient`` and against a real billing-server (with the
Stripe emulator and the webhook gateway), must give the same answers."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx
import pytest
import stripe

from billing_client import (
    BillingClient,
    BillingError,
    CancellationTiming,
    SubscriptionStatus,
)
from billing_client.testing import FakeBillingClient
from stripe_emulator.testing import EmulatorControl
from tests import stripe_payloads
from tests.e2e.conftest import BillingServer, Emulator, Gateway
from tests.e2e.services import wait_until
from tests.signing import signature_header

pytestmark = pytest.mark.e2e

DAY = timedelta(days=1)


class Side(Protocol):
    """One of the two billing services under comparison, and how to arrange it."""

    client: Any

    def pay(self, session_id: str) -> None: ...

    def set_status(self, account: str, status: str, past_due_for: timedelta) -> None: ...


@dataclass
class FakeSide:
    client: FakeBillingClient

    def pay(self, session_id: str) -> None:
        self.client.complete_checkout(session_id)

    def set_status(self, account: str, status: str, past_due_for: timedelta) -> None:
        sub = self.client.get_subscription(account)
        self.client.set_plan(
            account,
            sub.plan,
            status=SubscriptionStatus(status),
            past_due_since=datetime.now(UTC) - past_due_for,
        )


@dataclass
class ServerSide:
    client: BillingClient
    emulator: Emulator
    gateway: Gateway
    stripe: stripe.StripeClient
    control: EmulatorControl

    def pay(self, session_id: str) -> None:
        self.emulator.complete_checkout(session_id)

    def set_status(self, account: str, status: str, past_due_for: timedelta) -> None:
        """Stripe moves the subscription to ``status``; its signed webhook
        arrives through the gateway. A past_due subscription's grace runs
        from its period's start when no failed invoice is known."""
        before = self.client.get_subscription(account)
        self.control.update_subscription(before.stripe_subscription_id, status=status)
        now = datetime.now(UTC)
        obj = stripe_payloads.subscription(
            before.stripe_subscription_id,
            before.stripe_customer_id,
            status=status,
            period_start=now - past_due_for,
            account_id=account,
        )
        # Newest by a clear second, so that no Stripe read is needed to order it.
        body = stripe_payloads.event(
            "customer.subscription.updated", obj, now + timedelta(seconds=2)
        )
        secret = self.gateway.secrets[0]
        response = httpx.post(
            self.gateway.webhook_url,
            content=body,
            headers={"Stripe-Signature": signature_header(body, secret)},
            timeout=10,
        )
        assert response.is_success, response.text
        wait_until(
            lambda: self.client.get_subscription(account).state_version > before.state_version,
            30,
            f"the {status} webhook to reach {account}",
        )


@pytest.fixture(scope="module")
def server_side(
    billing_server: BillingServer, emulator: Emulator, gateway: Gateway
) -> Iterator[ServerSide]:
    control = EmulatorControl(emulator.url)
    with BillingClient(
        billing_server.target,
        service_name="contract-e2e",
        insecure=True,
        token=billing_server.token,
        check_timeout=5,
    ) as client:
        yield ServerSide(
            client,
            emulator,
            gateway,
            stripe.StripeClient("sk_test_e2e", base_addresses={"api": emulator.url}),
            control,
        )
    control.close()


# What a scenario's answers are compared on: everything but ids and times
# (whose presence is kept).
def summary(value: Any) -> Any:
    if isinstance(value, BillingError):
        return ("error", value.code.name, value.reason)
    if isinstance(value, list | tuple):
        return [summary(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        out = {}
        for name in value.__dataclass_fields__:
            item = getattr(value, name)
            if name in {"state_version", "state_updated_at", "known_current_at", "source"}:
                continue
            if name.endswith(("_id", "url")) or isinstance(item, datetime):
                out[name] = item is not None and item != ""
            elif isinstance(item, frozenset):
                out[name] = sorted(item)
            else:
                out[name] = item
        return out
    return value


def answer(call: Callable[[], Any]) -> Any:
    try:
        return summary(call())
    except BillingError as exc:
        return summary(exc)


def subscribe(side: Side, account: str, plan: str = "pro") -> None:
    session = side.client.create_checkout(account, plan, idempotency_key=uuid.uuid4().hex)
    side.pay(session.session_id)
    side.client.confirm_checkout(session.session_id, account_id=account)


def checks(side: Side, account: str) -> list[Any]:
    client = side.client
    return [
        answer(lambda: client.check_plan(account, plan="free")),
        answer(lambda: client.check_plan(account, plan="pro")),
        answer(lambda: client.check_plan(account, plan="enterprise")),
        answer(lambda: client.check_plan(account, feature="exports")),
        answer(lambda: client.check_plan(account, feature="sso")),
        answer(lambda: client.get_entitlements(account)),
    ]


# Each scenario arranges an account and returns the answers compared.
def plans_and_features(side: Side, account: str) -> list[Any]:
    return [answer(side.client.list_plans), *checks(side, account)]


def status_scenario(status: str, past_due_for: timedelta = timedelta(0)) -> Callable[..., Any]:
    def scenario(side: Side, account: str) -> list[Any]:
        subscribe(side, account)
        side.set_status(account, status, past_due_for)
        return [answer(lambda: side.client.get_subscription(account)), *checks(side, account)]

    return scenario


def cancel_at_period_end(side: Side, account: str) -> list[Any]:
    subscribe(side, account)
    key = uuid.uuid4().hex
    cancel = lambda: side.client.cancel_subscription(  # noqa: E731
        account, timing=CancellationTiming.AT_PERIOD_END, idempotency_key=key
    )
    return [answer(cancel), answer(cancel), *checks(side, account)]


def checkout_with_a_trial(side: Side, account: str) -> list[Any]:
    client = side.client
    session = client.create_checkout(account, "pro", trial_days=14)
    side.pay(session.session_id)
    confirmed = answer(lambda: client.confirm_checkout(session.session_id, account_id=account))
    return [confirmed, *checks(side, account)]


def idempotent_replays(side: Side, account: str) -> list[Any]:
    client = side.client
    key = uuid.uuid4().hex
    first = client.create_checkout(account, "pro", idempotency_key=key)
    again = client.create_checkout(account, "pro", idempotency_key=key)
    side.pay(first.session_id)
    client.confirm_checkout(first.session_id, account_id=account)
    change_key = uuid.uuid4().hex
    change = lambda: client.change_plan(account, "enterprise", idempotency_key=change_key)  # noqa: E731
    return [
        again.session_id == first.session_id,
        answer(change),
        answer(change),
        answer(lambda: client.create_checkout(account, "enterprise", idempotency_key=key)),
        answer(lambda: client.change_plan(account, "pro", idempotency_key=change_key)),
    ]


def errors(side: Side, account: str) -> list[Any]:
    client = side.client
    other = f"{account}_other"
    unpaid = client.create_checkout(account, "pro", idempotency_key=uuid.uuid4().hex)
    return [
        answer(lambda: client.check_plan(account, plan="platinum")),
        answer(lambda: client.check_plan(account, feature="teleport")),
        answer(lambda: client.get_subscription(account)),
        answer(lambda: client.create_checkout(account, "free")),
        answer(lambda: client.create_checkout(account, "platinum")),
        answer(lambda: client.create_checkout(account, "pro", trial_days=31)),
        answer(lambda: client.change_plan(account, "enterprise")),
        answer(lambda: client.cancel_subscription(account)),
        answer(lambda: client.confirm_checkout(unpaid.session_id, account_id=account)),
        answer(lambda: client.confirm_checkout(unpaid.session_id, account_id=other)),
    ]


def errors_when_subscribed(side: Side, account: str) -> list[Any]:
    client = side.client
    subscribe(side, account)
    results = [
        answer(lambda: client.create_checkout(account, "enterprise")),
        answer(lambda: client.change_plan(account, "platinum")),
    ]
    client.cancel_subscription(account, timing=CancellationTiming.IMMEDIATELY)
    results.append(answer(lambda: client.cancel_subscription(account)))
    results.append(answer(lambda: client.change_plan(account, "enterprise")))
    return results


SCENARIOS: dict[str, Callable[[Side, str], list[Any]]] = {
    "plans_and_features": plans_and_features,
    "active": status_scenario("active"),
    "trialing": status_scenario("trialing"),
    "past_due_in_grace": status_scenario("past_due", 2 * DAY),
    "past_due_out_of_grace": status_scenario("past_due", 10 * DAY),
    "canceled": status_scenario("canceled"),
    "unpaid": status_scenario("unpaid"),
    "incomplete": status_scenario("incomplete"),
    "paused": status_scenario("paused"),
    "cancel_at_period_end": cancel_at_period_end,
    "checkout_with_a_trial": checkout_with_a_trial,
    "idempotent_replays": idempotent_replays,
    "errors": errors,
    "errors_when_subscribed": errors_when_subscribed,
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_fake_answers_as_the_server_does(server_side: ServerSide, scenario: str) -> None:
    run = SCENARIOS[scenario]
    account = f"acct_contract_{uuid.uuid4().hex[:10]}"
    assert run(FakeSide(FakeBillingClient()), account) == run(server_side, account)
