"""The event log: the single place where state changes become Events.

Every handler records its changes through `EventLog.record`; the webhook
dispatcher subscribes a listener here, which is called under the store lock,
only queues deliveries, and sets the event's `pending_webhooks`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stripe_emulator.jsontypes import JSON
from stripe_emulator.objects.webhook import event
from stripe_emulator.store import Store, new_id
from stripe_emulator.views import render

DEFAULT_API_VERSION = "2026-10-28.endive"

EventListener = Callable[[JSON], None]


@dataclass(frozen=True)
class Origin:
    """What caused a change: an API request, or the emulator itself."""

    request_id: str | None = None
    idempotency_key: str | None = None
    api_version: str = DEFAULT_API_VERSION


AUTOMATIC = Origin()


class EventLog:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._listeners: list[EventListener] = []

    def subscribe(self, listener: EventListener) -> None:
        self._listeners.append(listener)

    def snapshot(self, obj: JSON) -> JSON:
        """The object as an event would show it now (take one before a change)."""
        return render(self._store, obj)

    def record(
        self,
        event_type: str,
        obj: JSON,
        origin: Origin,
        previous_attributes: JSON | None = None,
    ) -> JSON:
        recorded = event(
            new_id("evt_"),
            self._store.clock.now(),
            event_type=event_type,
            snapshot=self.snapshot(obj),
            previous_attributes=previous_attributes,
            api_version=origin.api_version,
            request_id=origin.request_id,
            idempotency_key=origin.idempotency_key,
            pending_webhooks=0,  # until a listener queues deliveries
        )
        self._store.insert(recorded)
        for listener in self._listeners:
            listener(recorded)
        return recorded

    def record_update(
        self, event_type: str, obj: JSON, before: JSON, origin: Origin
    ) -> JSON | None:
        """Record `event_type` with `previous_attributes`, if anything changed."""
        previous = previous_attributes(before, self.snapshot(obj))
        if not previous:
            return None
        return self.record(event_type, obj, origin, previous)


def previous_attributes(before: JSON, after: JSON) -> JSON:
    """The old values of what changed; plain hashes (metadata) diff per key."""
    changed: JSON = {}
    for key in [*after, *(key for key in before if key not in after)]:
        old: Any = before.get(key)
        new: Any = after.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict) and "object" not in old:
            changed[key] = previous_attributes(old, new)
        else:
            changed[key] = old
    return changed
