"""Logging, request ids, tracing and error tracking shared by the billing server and the gateway."""
