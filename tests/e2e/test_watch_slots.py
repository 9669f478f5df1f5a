"""WatchEntitlements slots: one calling service cannot hold them all."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from billing.v1 import billing_pb2, billing_pb2_grpc
from tests.e2e.conftest import BillingServer, Emulator, server_env, start_server, token
from tests.e2e.resilience_support import error_reason
from tests.e2e.services import free_port

pytestmark = pytest.mark.e2e


@pytest.fixture
def small_server(database_url: str, emulator: Emulator, e2e_logs: Path) -> Iterator[BillingServer]:
    env = server_env(database_url, emulator, free_port())
    env |= {"PAYMENTSVC_MAX_WATCHERS": "4", "PAYMENTSVC_MAX_WATCHERS_PER_CALLER": "2"}
    server = start_server(env, e2e_logs)
    yield server
    server.process.stop()


class Watch:
    """An open stream, its first message (a heartbeat) already read."""

    def __init__(self, channel: grpc.Channel, service: str) -> None:
        stub = billing_pb2_grpc.BillingServiceStub(channel)
        self.call: Any = stub.WatchEntitlements(
            billing_pb2.WatchEntitlementsRequest(),
            metadata=(("authorization", f"Bearer {token(service)}"),),
            timeout=30,
        )
        first = next(self.call)
        assert first.HasField("heartbeat")

    def close(self) -> None:
        self.call.cancel()


def refused(channel: grpc.Channel, service: str) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as error:
        Watch(channel, service)
    return error.value


def test_one_caller_gets_its_share_of_the_slots_and_others_theirs(
    small_server: BillingServer,
) -> None:
    with grpc.insecure_channel(small_server.target) as channel:
        mine = [Watch(channel, "greedy") for _ in range(2)]
        third = refused(channel, "greedy")
        assert third.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert error_reason(third) == "WATCHERS_PER_CALLER"

        theirs = [Watch(channel, "modest") for _ in range(2)]  # still room for others
        full = refused(channel, "third-service")
        assert full.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert error_reason(full) != "WATCHERS_PER_CALLER"  # the server's own cap
        for watch in mine + theirs:
            watch.close()
