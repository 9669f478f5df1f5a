"""A circuit breaker: stop calling a failing dependency, probe it, resume."""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Opens after `failure_threshold` consecutive failures; after `cooldown_s`
    lets one probe through (half-open); closes on its success."""

    def __init__(
        self,
        failure_threshold: int,
        cooldown_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._threshold = failure_threshold
        self._cooldown_s = cooldown_s
        self._clock = clock
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False
        self._listeners: list[Callable[[BreakerState], None]] = []

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state

    def on_change(self, listener: Callable[[BreakerState], None]) -> None:
        self._listeners.append(listener)

    def allow(self) -> bool:
        """May a call go out now? In half-open state only one probe may."""
        with self._lock:
            if self._state is BreakerState.CLOSED:
                return True
            if self._state is BreakerState.OPEN:
                if self._clock() - self._opened_at < self._cooldown_s:
                    return False
                changed = self._set(BreakerState.HALF_OPEN)
            else:
                changed = None
            if self._probing:
                allowed = False
            else:
                self._probing = allowed = True
        self._notify(changed)
        return allowed

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._probing = False
            changed = self._set(BreakerState.CLOSED)
        self._notify(changed)

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            self._probing = False
            changed = None
            if self._state is BreakerState.HALF_OPEN or self._failures >= self._threshold:
                self._opened_at = self._clock()
                changed = self._set(BreakerState.OPEN)
        self._notify(changed)

    def record_neutral(self) -> None:
        """The call neither proved nor disproved the dependency's health."""
        with self._lock:
            self._probing = False

    def _set(self, state: BreakerState) -> BreakerState | None:
        if state is self._state:
            return None
        self._state = state
        return state

    def _notify(self, changed: BreakerState | None) -> None:
        if changed is not None:
            for listener in self._listeners:
                listener(changed)
