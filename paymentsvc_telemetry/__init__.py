"""Logging, request ids and tracing shared by the billing server and the gateway."""
