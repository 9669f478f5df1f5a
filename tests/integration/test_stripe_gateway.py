"""The Stripe adapter over real HTTP, against the emulator."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import stripe

from billing_server.adapters.stripe_calls import StripeCalls
from billing_server.adapters.stripe_catalog import StripeCatalog
from billing_server.adapters.stripe_gateway import StripeGateway, make_client
from billing_server.circuit_breaker import CircuitBreaker
from billing_server.domain.checkouts import NewCheckout
from billing_server.domain.errors import FailedPrecondition, NotFound, Unavailable
from billing_server.domain.plans import Catalog, Plan, PlanPrice, Proration
from billing_server.domain.subscriptions import SubscriptionStatus
from billing_server.service_layer.catalog_sync import sync_catalog
from stripe_emulator.testing import RunningEmulator, run_emulator
from tests.e2e.services import free_port

pytestmark = pytest.mark.integration

KEY = "sk_test_gateway"


@pytest.fixture(scope="module")
def emulator() -> Iterator[RunningEmulator]:
    with run_emulator() as running:
        yield running


@pytest.fixture
def client(emulator: RunningEmulator) -> stripe.StripeClient:
    return make_client(KEY, emulator.url, timeout_s=5, max_network_retries=0)


def calls() -> StripeCalls:
    return StripeCalls(CircuitBreaker(failure_threshold=5, cooldown_s=30))


@pytest.fixture
def gateway(client: stripe.StripeClient) -> StripeGateway:
    return StripeGateway(client, calls())


@pytest.fixture
def plans() -> Catalog:
    suffix = uuid.uuid4().hex[:8]
    return Catalog(
        [
            Plan("pro", "Pro", 10, price_lookup_key=f"pro_{suffix}", price=PlanPrice(1000)),
            Plan("max", "Max", 20, price_lookup_key=f"max_{suffix}", price=PlanPrice(5000)),
        ]
    )


@pytest.fixture
def synced(client: stripe.StripeClient, plans: Catalog) -> Catalog:
    sync_catalog(plans, StripeCatalog(client, calls()), dry_run=False)
    return plans


def test_catalog_sync_creates_then_changes_nothing(
    emulator: RunningEmulator, client: stripe.StripeClient, plans: Catalog
) -> None:
    stripe_catalog = StripeCatalog(client, calls())
    dry = sync_catalog(plans, stripe_catalog, dry_run=True)
    assert [c.action for c in dry] == ["create", "create"]
    before = emulator.control.route_count("POST /v1/prices")
    sync_catalog(plans, stripe_catalog, dry_run=False)
    assert emulator.control.route_count("POST /v1/prices") == before + 2
    again = sync_catalog(plans, stripe_catalog, dry_run=False)
    assert [c.action for c in again] == ["unchanged", "unchanged"]
    assert emulator.control.route_count("POST /v1/prices") == before + 2


def test_a_changed_amount_replaces_the_price(
    client: stripe.StripeClient, gateway: StripeGateway, synced: Catalog
) -> None:
    pro = synced.plans[0]
    repriced = Catalog(
        [Plan("pro", "Pro", 10, price_lookup_key=pro.price_lookup_key, price=PlanPrice(1500))]
    )
    old_price = gateway.price_id_for(pro)
    changes = sync_catalog(repriced, StripeCatalog(client, calls()), dry_run=False)
    assert changes[0].action == "replace price"
    fresh_gateway = StripeGateway(client, calls())  # no cached lookups
    assert fresh_gateway.price_id_for(pro) != old_price


def test_customers_are_created_once_per_idempotency_key(gateway: StripeGateway) -> None:
    key = f"customer-{uuid.uuid4().hex}"
    first = gateway.create_customer("acct_1", "a@example.com", key)
    assert gateway.create_customer("acct_1", "a@example.com", key) == first


def test_a_checkout_round_trip(
    emulator: RunningEmulator, gateway: StripeGateway, synced: Catalog
) -> None:
    customer = gateway.create_customer("acct_rt", None, uuid.uuid4().hex)
    session = gateway.create_checkout_session(
        NewCheckout(
            customer_id=customer,
            price_id=gateway.price_id_for(synced.plans[0]),
            account_id="acct_rt",
            plan="pro",
            success_url="https://app.example/ok?session_id={CHECKOUT_SESSION_ID}",
            cancel_url="https://app.example/no",
        ),
        uuid.uuid4().hex,
    )
    assert session.status == "open"
    assert session.client_reference_id == "acct_rt"
    emulator.control.complete_checkout(session.id)

    completed = gateway.get_checkout_session(session.id)
    assert completed.status == "complete"
    snapshot = completed.subscription
    assert snapshot is not None
    assert snapshot.status is SubscriptionStatus.ACTIVE
    assert snapshot.price_lookup_key == synced.plans[0].price_lookup_key
    assert snapshot.current_period_end is not None
    assert snapshot.current_period_start is not None
    assert snapshot.current_period_end > snapshot.current_period_start
    assert snapshot.metadata["account_id"] == "acct_rt"

    upgraded = gateway.change_price(
        snapshot.id,
        snapshot.item_id,
        gateway.price_id_for(synced.plans[1]),
        Proration.CREATE_PRORATIONS,
        uuid.uuid4().hex,
    )
    assert upgraded.price_lookup_key == synced.plans[1].price_lookup_key
    assert gateway.cancel_at_period_end(snapshot.id, uuid.uuid4().hex).cancel_at_period_end
    canceled = gateway.cancel_now(snapshot.id, uuid.uuid4().hex)
    assert canceled.status is SubscriptionStatus.CANCELED
    assert canceled.ended_at is not None
    assert gateway.create_portal_session(customer, "https://app.example/account").startswith("http")


def test_stripe_errors_become_domain_errors(gateway: StripeGateway) -> None:
    with pytest.raises(NotFound):
        gateway.get_checkout_session("cs_test_missing")
    with pytest.raises(NotFound):
        gateway.get_subscription("sub_missing")
    with pytest.raises(FailedPrecondition) as no_price:
        gateway.price_id_for(Plan("x", "X", 1, price_lookup_key=f"absent_{uuid.uuid4().hex}"))
    assert no_price.value.reason == "PRICE_NOT_FOUND"


def test_an_unreachable_stripe_is_unavailable() -> None:
    dead = StripeGateway(make_client(KEY, f"http://127.0.0.1:{free_port()}", 2, 0), calls())
    with pytest.raises(Unavailable):
        dead.create_customer("acct", None, uuid.uuid4().hex)
