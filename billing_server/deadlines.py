"""The deadline of the request being served, for code far from the RPC.

The gRPC layer sets it (the caller's deadline, capped by the server's
maximum); Stripe calls and waits check it, so that work nobody waits for
anymore stops early. A shutdown caps every request's deadline at the end of
its drain, so that each call gets an answer (UNAVAILABLE at worst) before
the server would have to cancel it.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from billing_server.domain.errors import DeadlineExceeded, Unavailable

# What a call needs after its work is cut short by its deadline: a rollback,
# a database write or two (releasing its idempotency key, auditing the
# failure) and its answer. Waits that can end early end this much before.
ANSWER_MARGIN_S = 0.3

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "paymentsvc_deadline", default=None
)


class _DrainCap:
    """When the server's drain ends (monotonic seconds), once it started."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.at: float | None = None

    def set(self, at: float | None) -> None:
        with self._lock:
            self.at = at


_drain = _DrainCap()


@contextmanager
def deadline_in(seconds: float) -> Iterator[None]:
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def drain_until(at: float | None) -> None:
    """Caps every request's deadline, those in flight too, at `at`
    (`time.monotonic()`); None lifts the cap (tests)."""
    _drain.set(at)


def remaining() -> float | None:
    """Seconds left, or None outside a request (command-line tools)."""
    deadline = _deadline.get()
    if deadline is None:
        return None
    drain = _drain.at
    if drain is not None:
        deadline = min(deadline, drain)
    return deadline - time.monotonic()


def check(operation: str) -> None:
    left = remaining()
    if left is not None and left <= 0:
        if _drain.at is not None and _drain.at <= time.monotonic():
            # The caller's own deadline may be far off: another replica can
            # serve the retry.
            raise Unavailable(
                f"the server is shutting down; retry ({operation} did not start)",
                reason="SHUTTING_DOWN",
            )
        raise DeadlineExceeded(f"deadline exceeded before {operation}")
