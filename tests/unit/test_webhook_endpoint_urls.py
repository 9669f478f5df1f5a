"""Which registered endpoint `billing-admin webhook setup` takes for a URL."""

from __future__ import annotations

import pytest

from billing_server.adapters.stripe_webhook_endpoints import same_url_key

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "other",
    [
        "https://billing.example/stripe/webhook",
        "HTTPS://Billing.Example/stripe/webhook",
        "https://billing.example:443/stripe/webhook",
        " https://billing.example/stripe/webhook ",
    ],
)
def test_the_same_target_written_differently_is_one_endpoint(other: str) -> None:
    assert same_url_key(other) == same_url_key("https://billing.example/stripe/webhook")


@pytest.mark.parametrize(
    "other",
    [
        "http://billing.example/stripe/webhook",
        "https://billing.example:8443/stripe/webhook",
        "https://billing.example/Stripe/Webhook",
        "https://billing.example/stripe/webhook?tenant=2",
        "https://other.example/stripe/webhook",
    ],
)
def test_another_target_is_another_endpoint(other: str) -> None:
    assert same_url_key(other) != same_url_key("https://billing.example/stripe/webhook")
