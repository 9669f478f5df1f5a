"""Every RPC of the API has a scope: an RPC without one would pass the
request pipeline unauthenticated."""

from __future__ import annotations

import pytest

from billing.v1 import billing_pb2, webhook_ingest_pb2
from billing_server.entrypoints.auth import METHOD_SCOPES

pytestmark = pytest.mark.unit


def test_every_method_of_every_service_needs_a_scope() -> None:
    methods = {
        f"/{service.full_name}/{method.name}"
        for module in (billing_pb2, webhook_ingest_pb2)
        for service in module.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    }
    assert methods == set(METHOD_SCOPES)
