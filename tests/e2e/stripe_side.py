"""Acting in Stripe (the emulator) the way a customer or the dashboard would,
behind the service's back: no call goes through paymentsvc."""

from __future__ import annotations

import stripe

from stripe_emulator.testing import EmulatorControl

PRO_LOOKUP_KEY = "paymentsvc_pro_monthly"


def paid_checkout(
    client: stripe.StripeClient, control: EmulatorControl, account_id: str, customer_id: str
) -> str:
    """A checkout for `account_id` with this customer, paid; returns the subscription's id."""
    pro = client.v1.prices.list({"lookup_keys": [PRO_LOOKUP_KEY]}).data[0].id
    session = client.v1.checkout.sessions.create(
        {
            "mode": "subscription",
            "customer": customer_id,
            "client_reference_id": account_id,
            "line_items": [{"price": pro, "quantity": 1}],
            "success_url": "https://app.example/done",
        }
    )
    return str(control.complete_checkout(session.id)["subscription"])


def customer_named(client: stripe.StripeClient, account_id: str) -> str:
    """A customer whose metadata names the account, as CreateCheckout makes them."""
    return str(client.v1.customers.create({"metadata": {"account_id": account_id}}).id)
