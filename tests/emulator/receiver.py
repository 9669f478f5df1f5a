"""A real HTTP webhook receiver for tests: records every delivery it gets and
answers 500 to the first `fail_first` of them (or to all, while `failing`)."""

from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    body: bytes
    signature: str
    content_type: str
    user_agent: str

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


class Receiver:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self.fail_first = 0
        self.failing = False
        self.url = ""

    def answer(self, delivery: Received) -> int:
        with self._lock:
            self._received.append(delivery)
            if self.failing or len(self._received) <= self.fail_first:
                return 500
            return 200

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def event_ids(self) -> list[str]:
        return [delivery.event["id"] for delivery in self.received]

    def event_types(self) -> list[str]:
        return [delivery.event["type"] for delivery in self.received]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, receiver: Receiver) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.receiver = receiver

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can stall
        # where DNS is unreachable; loopback needs no name.
        socketserver.TCPServer.server_bind(self)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        delivery = Received(
            body=self.rfile.read(length),
            signature=self.headers.get("Stripe-Signature", ""),
            content_type=self.headers.get("Content-Type", ""),
            user_agent=self.headers.get("User-Agent", ""),
        )
        status = self.server.receiver.answer(delivery)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean


@contextmanager
def run_receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    server = _Server(receiver)
    host, port = server.server_address[:2]
    receiver.url = f"http://{host!s}:{port}/webhooks"
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="webhook-receiver", daemon=True
    )
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
