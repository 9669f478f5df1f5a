"""Watch slots are given back when a stream ends, per caller."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import pytest

from billing.v1 import billing_pb2
from billing_server.domain.callers import Identity
from billing_server.domain.errors import ResourceExhausted
from billing_server.entrypoints.caller import current_identity
from billing_server.entrypoints.watch_servicer import Watchers
from billing_server.service_layer.change_feed import ChangeFeed

pytestmark = pytest.mark.unit


class Context:
    """The servicer context of one stream; `cancel()` as gRPC ends a call."""

    def __init__(self) -> None:
        self.callbacks: list[Callable[[], None]] = []

    def is_active(self) -> bool:
        return True

    def add_callback(self, callback: Callable[[], None]) -> bool:
        self.callbacks.append(callback)
        return True

    def cancel(self) -> None:
        for callback in self.callbacks:
            callback()


def open_stream(watchers: Watchers, service: str, context: Context | None = None) -> Generator[Any]:
    token = current_identity.set(Identity(service, frozenset()))
    try:
        stream = watchers.stream(
            billing_pb2.WatchEntitlementsRequest(),
            context or Context(),  # type: ignore[arg-type]
        )
        assert isinstance(stream, Generator)
        assert next(stream).HasField("heartbeat")
    finally:
        current_identity.reset(token)
    return stream


def test_a_slot_given_back_can_be_taken_again() -> None:
    watchers = Watchers(ChangeFeed(), limit=3, heartbeat_s=0.01, per_caller=1)
    first = open_stream(watchers, "orders")
    with pytest.raises(ResourceExhausted) as refused:
        open_stream(watchers, "orders")
    assert refused.value.reason == "WATCHERS_PER_CALLER"
    other = open_stream(watchers, "reports")

    first.close()  # the stream ends: its slot is free
    again = open_stream(watchers, "orders")
    for stream in (again, other):
        stream.close()


def test_a_cancelled_call_gives_its_slot_back_before_its_thread_wakes() -> None:
    watchers = Watchers(ChangeFeed(), limit=3, per_caller=1)  # 15 s heartbeats
    context = Context()
    first = open_stream(watchers, "orders", context)
    context.cancel()  # the caller went away; the stream still waits for news
    again = open_stream(watchers, "orders")
    for stream in (first, again):
        stream.close()


def test_the_per_caller_limit_never_exceeds_the_servers() -> None:
    assert Watchers(ChangeFeed(), limit=4, per_caller=10).per_caller == 4
    assert Watchers(ChangeFeed(), limit=4).per_caller == 4
