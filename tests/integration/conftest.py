from __future__ import annotations

from collections.abc import Iterator

import pytest

from billing_server.bootstrap import Application, bootstrap
from billing_server.config import Settings
from billing_server.service_layer.dependencies import Dependencies
from tests.conftest import fresh_database
from tests.fakes import FakeStripeGateway
from tests.integration.deliveries import WEBHOOK_SECRET


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database of the integration tests' own: the end-to-end tests' server
    processes apply the events of theirs, against their own Stripe."""
    with fresh_database(tmp_path_factory) as url:
        yield url


@pytest.fixture
def fake_stripe() -> FakeStripeGateway:
    return FakeStripeGateway()


@pytest.fixture
def app(database_url: str, fake_stripe: FakeStripeGateway) -> Iterator[Application]:
    application = bootstrap(
        Settings.from_env(
            {"SQLALCHEMY_DATABASE_URI": database_url, "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET}
        ),
        stripe=fake_stripe,
    )
    yield application
    application.close()


@pytest.fixture
def deps(app: Application) -> Dependencies:
    return app.deps
