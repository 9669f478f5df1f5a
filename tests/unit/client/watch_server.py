"""A small in-process gRPC server implementing only WatchEntitlements, driven
by the test: it pushes notices, breaks streams and refuses connections."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field

import grpc

from billing.v1 import billing_pb2, billing_pb2_grpc

Response = billing_pb2.WatchEntitlementsResponse


def change(account_id: str, version: int, token: str) -> Response:
    return Response(
        change=billing_pb2.EntitlementChange(account_id=account_id, state_version=version),
        resume_token=token,
    )


def reset(token: str) -> Response:
    return Response(reset=billing_pb2.CacheReset(), resume_token=token)


def heartbeat(token: str) -> Response:
    return Response(heartbeat=billing_pb2.Heartbeat(), resume_token=token)


_BREAK = object()


@dataclass
class Stream:
    """One WatchEntitlements call as the server saw it."""

    resume_token: str
    authorization: str
    number: int
    outbox: queue.Queue[object] = field(default_factory=queue.Queue)
    # Set when the call ends, whoever ended it.
    closed: bool = False

    def send(self, response: Response) -> None:
        self.outbox.put(response)

    def break_off(self) -> None:
        """Ends the stream with UNAVAILABLE, as a server shutting down does."""
        self.outbox.put(_BREAK)


class WatchServicer(billing_pb2_grpc.BillingServiceServicer):
    def __init__(self) -> None:
        self.opened: queue.Queue[Stream] = queue.Queue()
        self.count = 0
        # While set, new streams are refused with this code.
        self.refuse: grpc.StatusCode | None = None
        self.refused = 0
        self.target = ""

    def next_stream(self, timeout: float = 5) -> Stream:
        return self.opened.get(timeout=timeout)

    def WatchEntitlements(
        self, request: billing_pb2.WatchEntitlementsRequest, context: grpc.ServicerContext
    ) -> Iterator[Response]:
        if self.refuse is not None:
            self.refused += 1
            context.abort(self.refuse, "refused by the test")
        self.count += 1
        metadata = dict(context.invocation_metadata())
        stream = Stream(request.resume_token, str(metadata.get("authorization", "")), self.count)
        context.add_callback(lambda: setattr(stream, "closed", True))
        self.opened.put(stream)
        yield heartbeat(f"hello-{stream.number}")
        while context.is_active():
            try:
                item = stream.outbox.get(timeout=0.02)
            except queue.Empty:
                continue
            if item is _BREAK:
                context.abort(grpc.StatusCode.UNAVAILABLE, "server shutting down")
            assert isinstance(item, Response)
            yield item


def serve(servicer: WatchServicer) -> grpc.Server:
    """Starts a server on a free loopback port (``servicer.target``)."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    billing_pb2_grpc.add_BillingServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    servicer.target = f"127.0.0.1:{port}"
    return server


def wait_until(condition: Callable[[], bool], timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.005)
