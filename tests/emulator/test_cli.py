"""The console entry, run as a real child process."""

from __future__ import annotations

import pytest
import stripe

from stripe_emulator.testing import run_emulator_process

pytestmark = pytest.mark.integration


def test_emulator_process_serves_the_api() -> None:
    with run_emulator_process(port=0) as emulator:
        client = stripe.StripeClient("sk_test_cli", base_addresses={"api": emulator.url})

        created = client.v1.customers.create(params={"email": "cli@example.com"})

        assert emulator.url.startswith("http://127.0.0.1:")
        assert emulator.control.healthy()
        assert created.id.startswith("cus_")
        assert emulator.control.route_count("POST /v1/customers") == 1
        emulator.control.reset()
        assert emulator.control.request_counts()["total"] == 0
