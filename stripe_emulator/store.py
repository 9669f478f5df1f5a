"""In-memory tables of Stripe objects, keyed by object type and id.

Objects are stored in their public JSON shape (unexpanded); keys starting
with "_" hold emulator-private data (a webhook secret, a billing cycle
counter) and are stripped when an object is rendered. Every read and write
happens under `lock`, which the request pipeline holds while a handler runs,
so a handler sees and changes state atomically.
"""

from __future__ import annotations

import secrets
import string
import threading

from stripe_emulator.clock import Clock
from stripe_emulator.errors import resource_missing
from stripe_emulator.jsontypes import JSON

_ALPHABET = string.ascii_letters + string.digits

# How Stripe names each object type in "No such ..." messages.
_LABELS = {
    "checkout.session": "checkout.session",
    "billing_portal.session": "billing_portal.session",
    "webhook_endpoint": "webhook endpoint",
}


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


class Store:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self._tables: dict[str, dict[str, JSON]] = {}

    def insert(self, obj: JSON) -> JSON:
        self._tables.setdefault(obj["object"], {})[obj["id"]] = obj
        return obj

    def get(self, kind: str, object_id: str) -> JSON | None:
        return self._tables.get(kind, {}).get(object_id)

    def require(self, kind: str, object_id: str, param: str = "id") -> JSON:
        found = self.get(kind, object_id)
        if found is None:
            raise resource_missing(_LABELS.get(kind, kind), object_id, param)
        return found

    def delete(self, kind: str, object_id: str) -> None:
        self._tables.get(kind, {}).pop(object_id, None)

    def find(self, object_id: str) -> JSON | None:
        """Any object by id; expansion uses it because ids like custom
        product ids do not always carry their type's prefix."""
        for table in self._tables.values():
            if object_id in table:
                return table[object_id]
        return None

    def newest_first(self, kind: str) -> list[JSON]:
        return list(reversed(self._tables.get(kind, {}).values()))

    def clear(self) -> None:
        self._tables.clear()
