"""Helpers for the client library's end-to-end tests (the server fixtures come
from tests/e2e/conftest.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from billing_client import BillingClient, Subscription
from tests.e2e.conftest import BillingServer, Emulator


def handled(server: BillingServer, method: str, code: str = "OK") -> float:
    """How many calls of ``method`` the server answered with ``code`` so far."""
    text = httpx.get(server.metrics_url, timeout=5).text
    pattern = (
        r"^paymentsvc_grpc_server_handled_total\{"
        rf'grpc_code="{code}",grpc_method="{method}",grpc_service="billing.v1.BillingService"'
        r"\} (\S+)$"
    )
    match = re.search(pattern, text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def subscribe(client: BillingClient, emulator: Emulator, account: str, plan: str) -> Subscription:
    """Checkout, pay in the emulator, confirm: the account is on ``plan`` on return."""
    session = client.create_checkout(account, plan, customer_email="buyer@example.com")
    emulator.complete_checkout(session.session_id)
    return client.confirm_checkout(session.session_id, account_id=account)


@pytest.fixture
def client(billing_server: BillingServer) -> Iterator[BillingClient]:
    with BillingClient(
        billing_server.target,
        service_name="client-e2e",
        insecure=True,
        token=billing_server.token,
        check_timeout=5,
    ) as client:
        yield client
