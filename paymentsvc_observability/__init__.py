"""Logging, request ids, tracing and error tracking: the observability shared by the billing
server and the gateway."""
