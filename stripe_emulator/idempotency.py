"""Idempotency keys: saved results and the serialisation of concurrent reuse.

Stripe answers a concurrent request with a key still in flight with 409
`idempotency_key_in_use`; the emulator instead makes the later requests wait
for the first and then replays its result. Either way exactly one object is
created, and waiting keeps clients without retries (max_network_retries=0)
from failing spuriously.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

# Stripe prunes saved keys after 24 hours.
RETENTION_SECONDS = 24 * 60 * 60

Scope = tuple[str, str]  # (API key, Idempotency-Key): keys are per API key


@dataclass(frozen=True)
class SavedResponse:
    fingerprint: str
    status: int
    body: bytes
    request_id: str
    saved_at: int


def fingerprint(method: str, path: str, params: Mapping[str, Any]) -> str:
    return json.dumps([method, path, params], sort_keys=True)


class IdempotencyCache:
    def __init__(self) -> None:
        self._saved: dict[Scope, SavedResponse] = {}
        self._locks: dict[Scope, asyncio.Lock] = {}
        self._holders: dict[Scope, int] = {}

    @asynccontextmanager
    async def reserve(self, scope: Scope) -> AsyncIterator[None]:
        """Hold `scope` so requests sharing a key run one after another."""
        lock = self._locks.setdefault(scope, asyncio.Lock())
        self._holders[scope] = self._holders.get(scope, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._holders[scope] -= 1
            if self._holders[scope] == 0:
                del self._holders[scope]
                del self._locks[scope]

    def saved(self, scope: Scope, now: int) -> SavedResponse | None:
        found = self._saved.get(scope)
        if found is not None and now - found.saved_at > RETENTION_SECONDS:
            del self._saved[scope]
            return None
        return found

    def save(self, scope: Scope, response: SavedResponse) -> None:
        self._saved[scope] = response

    def clear(self) -> None:
        self._saved.clear()
