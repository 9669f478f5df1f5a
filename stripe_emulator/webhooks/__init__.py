"""Webhook delivery: events recorded by the emulator, POSTed and signed as Stripe does."""

from stripe_emulator.webhooks.dispatcher import WebhookDispatcher
from stripe_emulator.webhooks.settings import Chaos, RetryPolicy, WebhookSettings

__all__ = ["Chaos", "RetryPolicy", "WebhookDispatcher", "WebhookSettings"]
