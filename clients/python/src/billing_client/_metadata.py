"""Metadata sent with every call: credentials, caller, request id, trace context."""

from __future__ import annotations

import contextlib
import contextvars
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

CALLER_KEY = "x-paymentsvc-caller"
REQUEST_ID_KEY = "x-request-id"

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "billing_client_request_id", default=None
)
_trace: contextvars.ContextVar[tuple[str, str | None] | None] = contextvars.ContextVar(
    "billing_client_trace_context", default=None
)


@contextlib.contextmanager
def request_context(
    *, request_id: str | None = None, traceparent: str | None = None, tracestate: str | None = None
) -> Iterator[None]:
    """Calls made inside send this ``x-request-id`` and W3C trace context.

    Without a request id each call gets a fresh one. Without a traceparent the
    current OpenTelemetry context is injected, when OpenTelemetry is installed.
    Works across threads started with ``contextvars.copy_context()`` and
    across asyncio tasks, like any contextvar.
    """
    tokens: list[tuple[contextvars.ContextVar[Any], contextvars.Token[Any]]] = []
    if request_id is not None:
        tokens.append((_request_id, _request_id.set(request_id)))
    if traceparent is not None:
        tokens.append((_trace, _trace.set((traceparent, tracestate))))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def current_request_id() -> str | None:
    """The request id set by an enclosing ``request_context``, if any."""
    return _request_id.get()


_otel_inject: Callable[[dict[str, str]], None] | None = None
_otel_looked_up = False


def _opentelemetry_inject() -> Callable[[dict[str, str]], None] | None:
    # Looked up once, lazily: OpenTelemetry is optional and never a dependency.
    global _otel_inject, _otel_looked_up
    if not _otel_looked_up:
        _otel_looked_up = True
        try:
            from opentelemetry import propagate
        except ImportError:
            _otel_inject = None
        else:
            _otel_inject = propagate.inject
    return _otel_inject


@dataclass(frozen=True)
class CallMetadata:
    """Builds the metadata of one logical call (the same for all its retries)."""

    service_name: str
    token: str | None = None
    token_provider: Callable[[], str] | None = None

    def build(self) -> tuple[tuple[str, str], ...]:
        pairs: list[tuple[str, str]] = [
            (CALLER_KEY, self.service_name),
            (REQUEST_ID_KEY, _request_id.get() or uuid.uuid4().hex),
        ]
        token = self.token_provider() if self.token_provider is not None else self.token
        if token:
            pairs.append(("authorization", f"Bearer {token}"))
        trace = _trace.get()
        if trace is not None:
            pairs.append(("traceparent", trace[0]))
            if trace[1]:
                pairs.append(("tracestate", trace[1]))
        else:
            inject = _opentelemetry_inject()
            if inject is not None:
                carrier: dict[str, str] = {}
                inject(carrier)
                pairs.extend(
                    (key, value)
                    for key, value in carrier.items()
                    if key in ("traceparent", "tracestate")
                )
        return tuple(pairs)
