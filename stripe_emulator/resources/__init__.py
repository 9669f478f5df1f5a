"""The Stripe API operations the emulator serves, one module per resource."""

from __future__ import annotations

from stripe_emulator.call import Endpoint
from stripe_emulator.resources import (
    checkout,
    customers,
    events,
    invoices,
    portal,
    prices,
    products,
    subscriptions,
    test_clocks,
    webhook_endpoints,
)


def all_endpoints() -> list[Endpoint]:
    return [
        *customers.ENDPOINTS,
        *products.ENDPOINTS,
        *prices.ENDPOINTS,
        *checkout.ENDPOINTS,
        *subscriptions.ENDPOINTS,
        *invoices.ENDPOINTS,
        *portal.ENDPOINTS,
        *events.ENDPOINTS,
        *webhook_endpoints.ENDPOINTS,
        *test_clocks.ENDPOINTS,
    ]
