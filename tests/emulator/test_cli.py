"""The console entry, run as a real child process."""

from __future__ import annotations

import pytest
import stripe

from stripe_emulator.cli import parse_args, webhook_settings
from stripe_emulator.testing import run_emulator_process
from tests.emulator.conftest import WEBHOOK_SECRET
from tests.emulator.receiver import Receiver

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


def test_emulator_process_delivers_webhooks_to_the_configured_url(receiver: Receiver) -> None:
    with run_emulator_process(
        port=0,
        webhook_url=receiver.url,
        webhook_secret=WEBHOOK_SECRET,
        webhook_retry_base=0.05,
    ) as emulator:
        client = stripe.StripeClient("sk_test_cli", base_addresses={"api": emulator.url})
        receiver.fail_first = 1

        customer = client.v1.customers.create(params={"email": "cli-hooks@example.com"})
        summary = emulator.control.flush_webhooks()

        assert (summary["flushed"], summary["failed_attempts"], summary["succeeded"]) == (
            True,
            1,
            1,
        )
        delivery = receiver.received[-1]
        event = stripe.Webhook.construct_event(delivery.body, delivery.signature, WEBHOOK_SECRET)
        assert event.data.object["id"] == customer.id


def test_webhook_url_without_a_secret_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRET", raising=False)

    with pytest.raises(SystemExit):
        parse_args(["--webhook-url", "http://127.0.0.1:9/hooks"])


def test_webhook_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYMENTSVC_EMULATOR_WEBHOOK_URL", "http://127.0.0.1:9/hooks")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_from_env")
    monkeypatch.setenv("PAYMENTSVC_EMULATOR_WEBHOOK_RETRY_BASE", "0.25")

    settings = webhook_settings(parse_args([]))

    assert (settings.url, settings.secret) == ("http://127.0.0.1:9/hooks", "whsec_from_env")
    assert settings.retry.base_s == 0.25
