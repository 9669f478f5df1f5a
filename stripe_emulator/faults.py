"""Faults a test injects into the /v1 API: errors, hangs, rate limiting.

The pipeline asks `FaultPlan.take` before it decodes or runs anything, so a
faulted request changes no state, exactly like a request Stripe failed.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, replace
from typing import Any

from stripe_emulator.errors import StripeError
from stripe_emulator.jsontypes import JSON

# "delay" is not a failure: the request is answered normally, `hang_s` late
# (a slow Stripe, or a request another one with its key can overlap).
MODES = ("error", "hang", "rate_limit", "delay")
UNTIL_CLEARED = -1


@dataclass(frozen=True)
class Fault:
    mode: str
    count: int  # how many more requests it fails; UNTIL_CLEARED for no limit
    routes: tuple[str, ...] = ()  # "POST /v1/customers"; empty: every /v1 route
    status: int = 500
    hang_s: float = 30.0
    # The Stripe-Should-Retry header on the error; None sends none. Stripe
    # sends "true" when a retry can succeed and "false" when it cannot.
    should_retry: bool | None = True

    def matches(self, names: tuple[str, ...]) -> bool:
        return not self.routes or any(name in self.routes for name in names)

    def to_json(self) -> JSON:
        return {**asdict(self), "routes": list(self.routes)}

    @classmethod
    def from_json(cls, body: JSON) -> Fault:
        unknown = sorted(
            set(body) - {"mode", "count", "routes", "status", "hang_s", "should_retry"}
        )
        if unknown:
            raise StripeError(f"Unknown fault setting: {unknown[0]}", param=unknown[0])
        mode = body.get("mode")
        if mode not in MODES:
            raise StripeError("mode must be 'error', 'hang', 'rate_limit' or 'delay'", param="mode")
        count = body.get("count", 1)
        if not _is_int(count) or (count < 1 and count != UNTIL_CLEARED):
            raise StripeError("count must be a positive integer, or -1", param="count")
        routes = body.get("routes", [])
        if not isinstance(routes, list) or not all(isinstance(r, str) for r in routes):
            raise StripeError("routes must be a list like ['POST /v1/customers']", param="routes")
        status = body.get("status", 500)
        if not _is_int(status) or not 500 <= status <= 599:
            raise StripeError("status must be a 5xx HTTP status", param="status")
        hang_s = body.get("hang_s", 30.0)
        if not isinstance(hang_s, int | float) or isinstance(hang_s, bool) or hang_s < 0:
            raise StripeError("hang_s must be a non-negative number", param="hang_s")
        should_retry = body.get("should_retry", True)
        if should_retry is not None and not isinstance(should_retry, bool):
            raise StripeError("should_retry must be true, false or null", param="should_retry")
        return cls(mode, count, tuple(routes), status, float(hang_s), should_retry)


class FaultPlan:
    """The faults still to apply, oldest first; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def inject(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def take(self, *names: str) -> Fault | None:
        """Use up one request of the first fault matching any of `names`."""
        with self._lock:
            for index, fault in enumerate(self._faults):
                if not fault.matches(names):
                    continue
                if fault.count == UNTIL_CLEARED:
                    return fault
                if fault.count == 1:
                    del self._faults[index]
                else:
                    self._faults[index] = replace(fault, count=fault.count - 1)
                return fault
            return None

    def active(self) -> list[JSON]:
        with self._lock:
            return [fault.to_json() for fault in self._faults]

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
