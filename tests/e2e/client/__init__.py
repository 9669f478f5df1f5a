"""The billing_client library against a real billing-server process."""
