"""The use-case tier's fixtures: an in-memory database and a fake Stripe."""

from __future__ import annotations

import pytest

from billing_server.service_layer.dependencies import Dependencies
from tests.fakes import FakeStripeGateway
from tests.unit.fake_unit_of_work import FakeDatabase, fake_dependencies


@pytest.fixture
def stripe() -> FakeStripeGateway:
    return FakeStripeGateway()


@pytest.fixture
def database() -> FakeDatabase:
    return FakeDatabase()


@pytest.fixture
def deps(database: FakeDatabase, stripe: FakeStripeGateway) -> Dependencies:
    return fake_dependencies(database, stripe)
