"""A Stripe API emulator served over real HTTP, for tests.

Point the real `stripe` library at it:
`stripe.StripeClient("sk_test_x", base_addresses={"api": url})`.
"""

from stripe_emulator.app import create_app
from stripe_emulator.state import EmulatorState
from stripe_emulator.webhooks import RetryPolicy, WebhookSettings

__all__ = ["EmulatorState", "RetryPolicy", "WebhookSettings", "create_app"]
