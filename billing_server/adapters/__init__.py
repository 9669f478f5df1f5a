"""Adapters to the outside world: the database and Stripe."""
