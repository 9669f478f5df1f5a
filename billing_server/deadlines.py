"""The deadline of the request being served, for code far from the RPC.

The gRPC layer sets it (the caller's deadline, capped by the server's
maximum); Stripe calls and waits check it, so that work nobody waits for
anymore stops early.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator
from contextlib import contextmanager

from billing_server.domain.errors import DeadlineExceeded

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "paymentsvc_deadline", default=None
)


@contextmanager
def deadline_in(seconds: float) -> Iterator[None]:
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def remaining() -> float | None:
    """Seconds left, or None outside a request (command-line tools)."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


def check(operation: str) -> None:
    left = remaining()
    if left is not None and left <= 0:
        raise DeadlineExceeded(f"deadline exceeded before {operation}")
