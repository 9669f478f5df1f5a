"""Everything one emulator instance remembers, built in one place."""

from __future__ import annotations

from stripe_emulator.clock import Clock
from stripe_emulator.counters import RequestCounters
from stripe_emulator.events import EventLog
from stripe_emulator.idempotency import IdempotencyCache
from stripe_emulator.store import Store


class EmulatorState:
    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self.store = Store(self.clock)
        self.events = EventLog(self.store)
        self.idempotency = IdempotencyCache()
        self.counters = RequestCounters()

    def reset(self) -> None:
        with self.store.lock:
            self.store.clear()
            self.idempotency.clear()
            self.counters.clear()
            self.clock.reset()
