"""The identity of the service making the current call."""

from __future__ import annotations

import contextvars

from billing_server.domain.callers import Identity

current_identity: contextvars.ContextVar[Identity | None] = contextvars.ContextVar(
    "paymentsvc_identity", default=None
)


def current_caller() -> str:
    """The calling service as its token names it (the audit log's actor)."""
    identity = current_identity.get()
    return identity.service if identity is not None else "unidentified"
