"""Everything one emulator instance remembers, built in one place."""

from __future__ import annotations

from stripe_emulator.clock import Clock
from stripe_emulator.counters import RequestCounters
from stripe_emulator.events import EventLog
from stripe_emulator.faults import FaultPlan
from stripe_emulator.idempotency import IdempotencyCache
from stripe_emulator.store import Store
from stripe_emulator.webhooks import WebhookDispatcher, WebhookSettings


class EmulatorState:
    def __init__(self, clock: Clock | None = None, webhooks: WebhookSettings | None = None) -> None:
        self.clock = clock or Clock()
        self.store = Store(self.clock)
        self.events = EventLog(self.store)
        self.idempotency = IdempotencyCache()
        self.counters = RequestCounters()
        self.faults = FaultPlan()
        # What a subscription becomes once its last payment retry fails.
        self.dunning_final_status = "canceled"
        self.webhooks = WebhookDispatcher(self.store, webhooks)
        self.events.subscribe(self.webhooks.on_event)

    def configure_webhooks(self, settings: WebhookSettings) -> None:
        """Set the start-up webhook endpoint and retry policy (affects later events)."""
        self.webhooks.configure(settings)

    def reset(self) -> None:
        """Forget objects, keys, counters, faults, queued deliveries and the clock;
        the start-up webhook endpoint and retry policy stay configured."""
        with self.store.lock:
            self.store.clear()
            self.idempotency.clear()
            self.counters.clear()
            self.faults.clear()
            self.webhooks.reset()
            self.clock.reset()
            self.dunning_final_status = "canceled"

    def close(self) -> None:
        """Stop the webhook delivery thread, if one was started."""
        self.webhooks.close()
