"""Idempotency keys: saved results and the serialisation of concurrent reuse.

Stripe answers a request whose key is still in flight with another request
with 409 `idempotency_key_in_use` (and `Stripe-Should-Retry: true`); so does
the emulator. Exactly one object is created; the client retries and gets the
first request's result replayed.
"""

from __future__ import annotations

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


class KeyInUse(Exception):
    """Another request with this key is still being processed."""


class IdempotencyCache:
    def __init__(self) -> None:
        self._saved: dict[Scope, SavedResponse] = {}
        # Every request runs on the server's one event loop: a set will do.
        self._in_flight: set[Scope] = set()

    @asynccontextmanager
    async def reserve(self, scope: Scope) -> AsyncIterator[None]:
        """Hold `scope` for one request; KeyInUse while another holds it."""
        if scope in self._in_flight:
            raise KeyInUse
        self._in_flight.add(scope)
        try:
            yield
        finally:
            self._in_flight.discard(scope)

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
