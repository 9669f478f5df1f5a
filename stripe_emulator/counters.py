"""Counts of API requests by route, so tests can assert what reached Stripe."""

from __future__ import annotations

import threading
from collections import Counter

from stripe_emulator.jsontypes import JSON


class RequestCounters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_route: Counter[str] = Counter()
        self._replayed: Counter[str] = Counter()
        self._faulted: Counter[str] = Counter()

    def received(self, route: str) -> None:
        with self._lock:
            self._by_route[route] += 1

    def replayed(self, route: str) -> None:
        with self._lock:
            self._replayed[route] += 1

    def faulted(self, route: str) -> None:
        with self._lock:
            self._faulted[route] += 1

    def snapshot(self) -> JSON:
        with self._lock:
            return {
                "total": sum(self._by_route.values()),
                "by_route": dict(self._by_route),
                "replayed_total": sum(self._replayed.values()),
                "replayed": dict(self._replayed),
                "faulted_total": sum(self._faulted.values()),
                "faulted": dict(self._faulted),
            }

    def clear(self) -> None:
        with self._lock:
            self._by_route.clear()
            self._replayed.clear()
            self._faulted.clear()
