from __future__ import annotations

from collections.abc import Iterator

import pytest

from billing_server.bootstrap import Application, bootstrap
from billing_server.config import Settings
from billing_server.service_layer.dependencies import Dependencies
from tests.fakes import FakeStripeGateway


@pytest.fixture
def fake_stripe() -> FakeStripeGateway:
    return FakeStripeGateway()


@pytest.fixture
def app(database_url: str, fake_stripe: FakeStripeGateway) -> Iterator[Application]:
    application = bootstrap(
        Settings.from_env({"SQLALCHEMY_DATABASE_URI": database_url}), stripe=fake_stripe
    )
    yield application
    application.close()


@pytest.fixture
def deps(app: Application) -> Dependencies:
    return app.deps
