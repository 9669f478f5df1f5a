"""A Stripe API emulator served over real HTTP, for tests.

Point the real `stripe` library at it:
`stripe.StripeClient("sk_test_x", base_addresses={"api": url})`.
"""

from stripe_emulator.app import create_app
from stripe_emulator.state import EmulatorState

__all__ = ["EmulatorState", "create_app"]
