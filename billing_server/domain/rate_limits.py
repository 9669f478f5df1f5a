"""Token buckets: a rate with a burst, per caller and method."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    per_second: float
    burst: float


class RateLimiter:
    """Admits or refuses calls; limits hold per replica, not across them."""

    def __init__(
        self,
        default: Limit,
        per_method: Mapping[str, Limit],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._default = default
        self._per_method = dict(per_method)
        self._clock = clock
        self._lock = threading.Lock()
        # (caller, method) -> (tokens, last refill)
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}

    def admit(self, caller: str, method: str) -> float:
        """0.0 when admitted; otherwise the seconds until a token is free."""
        limit = self._per_method.get(method, self._default)
        key = (caller, method)
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (limit.burst, now))
            tokens = min(limit.burst, tokens + (now - last) * limit.per_second)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / limit.per_second


def parse_limits(text: str) -> tuple[Limit | None, dict[str, Limit]]:
    """Reads `default=100/200,CheckPlan=5000/10000` (rate per second / burst)."""
    default: Limit | None = None
    per_method: dict[str, Limit] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        rate, _, burst = value.partition("/")
        limit = Limit(float(rate), float(burst or rate))
        if limit.per_second <= 0 or limit.burst < 1:
            raise ValueError(f"limit {part!r} needs a positive rate and a burst of at least 1")
        if name.strip() == "default":
            default = limit
        else:
            per_method[name.strip()] = limit
    return default, per_method


class Pacer:
    """Spaces requests `1/per_second` apart, across every thread that shares it.

    Each caller takes the next free slot and sleeps until it comes, so a
    burst of callers is served at the rate, in order, and none is refused.
    """

    def __init__(
        self,
        per_second: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._interval = 1.0 / per_second
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_slot = float("-inf")

    def wait(self) -> None:
        delay = self.reserve(float("inf"))
        assert delay is not None
        if delay > 0:
            self._sleep(delay)

    def reserve(self, max_wait_s: float) -> float | None:
        """Takes the next slot if it comes within `max_wait_s`; returns the
        seconds to wait for it (sleeping is the caller's), or None, taking
        nothing, when the queue is longer than that."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next_slot)
            if slot - now > max_wait_s:
                return None
            self._next_slot = slot + self._interval
        return slot - now

    def queued_s(self) -> float:
        """How long a caller arriving now would wait."""
        with self._lock:
            return max(0.0, self._next_slot - self._clock())
