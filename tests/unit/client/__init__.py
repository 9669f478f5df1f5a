"""Unit tests of the billing_client library."""
