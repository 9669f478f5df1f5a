"""What an API handler receives, and how an endpoint is declared."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from stripe_emulator.events import EventLog, Origin
from stripe_emulator.jsontypes import JSON
from stripe_emulator.params import Obj, Params
from stripe_emulator.state import EmulatorState
from stripe_emulator.store import Store


@dataclass(frozen=True)
class Call:
    state: EmulatorState
    params: Params
    path: Mapping[str, str]
    origin: Origin
    base_url: str

    @property
    def store(self) -> Store:
        return self.state.store

    @property
    def events(self) -> EventLog:
        return self.state.events

    @property
    def id(self) -> str:
        return self.path["id"]

    def now(self) -> int:
        return self.state.clock.now()


Handler = Callable[[Call], JSON]


@dataclass(frozen=True)
class Endpoint:
    """One Stripe API operation: `GET /v1/customers/{id}` and its params."""

    method: str
    path: str
    schema: Obj
    handler: Handler

    @property
    def route(self) -> str:
        return f"{self.method} {self.path}"
