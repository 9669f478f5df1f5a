"""The Stripe webhook gateway: verifies signatures and forwards events to the billing server."""
