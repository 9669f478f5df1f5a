"""One emulator per test session, reached over real HTTP by the real stripe library.

Tests share it and stay independent by creating their own objects (unique
ids per test) and by asserting on request-count deltas, never on totals.
Tests of webhook delivery and fault injection change emulator-wide settings,
so they get an emulator of their own (`hooked`, `fresh`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import stripe

from stripe_emulator.testing import EmulatorControl, RunningEmulator, run_emulator
from tests.emulator.receiver import Receiver, run_receiver

API_KEY = "sk_test_emulator"
WEBHOOK_SECRET = "whsec_emulator_tests"


@pytest.fixture(scope="session")
def emulator() -> Iterator[RunningEmulator]:
    with run_emulator() as running:
        yield running


@pytest.fixture
def client(emulator: RunningEmulator) -> stripe.StripeClient:
    # No retries: a test must see the emulator's first answer.
    return stripe.StripeClient(API_KEY, base_addresses={"api": emulator.url}, max_network_retries=0)


@pytest.fixture
def control(emulator: RunningEmulator) -> EmulatorControl:
    return emulator.control


@pytest.fixture
def unique() -> str:
    """A suffix that keeps this test's lookup keys and emails its own."""
    return uuid.uuid4().hex[:12]


@pytest.fixture
def monthly_price(client: stripe.StripeClient, unique: str) -> stripe.Price:
    """A 10.00 USD monthly price with lookup key `pro_monthly_<unique>`."""
    product = client.v1.products.create(params={"name": f"Pro {unique}"})
    return client.v1.prices.create(
        params={
            "currency": "usd",
            "product": product.id,
            "unit_amount": 1000,
            "recurring": {"interval": "month"},
            "lookup_key": f"pro_monthly_{unique}",
        }
    )


@pytest.fixture
def yearly_price(client: stripe.StripeClient, unique: str) -> stripe.Price:
    return client.v1.prices.create(
        params={
            "currency": "usd",
            "product_data": {"name": f"Pro yearly {unique}"},
            "unit_amount": 10000,
            "recurring": {"interval": "year"},
            "lookup_key": f"pro_yearly_{unique}",
        }
    )


@pytest.fixture
def customer(client: stripe.StripeClient, unique: str) -> stripe.Customer:
    return client.v1.customers.create(
        params={"email": f"{unique}@example.com", "metadata": {"account_id": unique}}
    )


@pytest.fixture
def subscription(
    client: stripe.StripeClient,
    control: EmulatorControl,
    customer: stripe.Customer,
    monthly_price: stripe.Price,
) -> stripe.Subscription:
    """An active monthly subscription, started through a completed checkout."""
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "customer": customer.id,
            "line_items": [{"price": monthly_price.id, "quantity": 1}],
            "success_url": "https://example.com/success",
        }
    )
    completed = control.complete_checkout(session.id)
    return client.v1.subscriptions.retrieve(completed["subscription"])


@pytest.fixture
def emulator_url(emulator: RunningEmulator) -> str:
    return emulator.url


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with run_receiver() as running:
        yield running


@pytest.fixture
def hooked(receiver: Receiver) -> Iterator[RunningEmulator]:
    """An emulator of its own that delivers every event to `receiver`,
    retrying quickly: after 0.05 s, 0.1 s and 0.2 s, then giving up."""
    with run_emulator(
        webhook_url=receiver.url,
        webhook_secret=WEBHOOK_SECRET,
        webhook_retry_base=0.05,
        webhook_max_attempts=4,
    ) as running:
        yield running


@pytest.fixture
def hooked_client(hooked: RunningEmulator) -> stripe.StripeClient:
    return stripe.StripeClient(API_KEY, base_addresses={"api": hooked.url}, max_network_retries=0)


@pytest.fixture
def fresh() -> Iterator[RunningEmulator]:
    """An emulator of its own, for tests that inject faults."""
    with run_emulator() as running:
        yield running


@pytest.fixture
def fresh_client(fresh: RunningEmulator) -> stripe.StripeClient:
    return stripe.StripeClient(API_KEY, base_addresses={"api": fresh.url}, max_network_retries=0)
