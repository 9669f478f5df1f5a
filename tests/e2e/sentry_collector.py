"""A local HTTP endpoint posing as Sentry (and as an OTLP collector): it
keeps every envelope it receives, decompressed, for tests to read."""

from __future__ import annotations

import gzip
import json
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.e2e.services import wait_until


class SentryCollector:
    PROJECT_ID = 42
    PUBLIC_KEY = "e2epublickey"

    def __init__(self, server: ThreadingHTTPServer) -> None:
        self._server = server
        self._lock = threading.Lock()
        self._bodies: list[bytes] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def dsn(self) -> str:
        return (
            f"http://{self.PUBLIC_KEY}@127.0.0.1:{self._server.server_address[1]}/{self.PROJECT_ID}"
        )

    def received(self, body: bytes) -> None:
        with self._lock:
            self._bodies.append(body)

    def raw(self) -> list[bytes]:
        with self._lock:
            return list(self._bodies)

    def events(self) -> list[dict[str, Any]]:
        return [
            item for body in self.raw() for kind, item in envelope_items(body) if kind == "event"
        ]

    def wait_for_event(self, timeout_s: float = 20) -> dict[str, Any]:
        wait_until(lambda: bool(self.events()), timeout_s, "a Sentry event")
        return self.events()[0]


def envelope_items(body: bytes) -> Iterator[tuple[str, dict[str, Any]]]:
    """(type, payload) of each item of a Sentry envelope."""
    _header, _, rest = body.partition(b"\n")
    while rest.strip():
        item_header_line, _, rest = rest.partition(b"\n")
        item_header = json.loads(item_header_line)
        length = item_header.get("length")
        if length is None:
            payload, _, rest = rest.partition(b"\n")
        else:
            payload, rest = rest[:length], rest[length + 1 :]
        try:
            yield item_header.get("type", ""), json.loads(payload)
        except ValueError:
            continue


def _decoded(body: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    if encoding == "br":
        import brotli  # type: ignore[import-not-found]  # only if the SDK chose it

        return bytes(brotli.decompress(body))
    return body


@contextmanager
def running_collector() -> Iterator[SentryCollector]:
    collector: SentryCollector

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.startswith(f"/api/{SentryCollector.PROJECT_ID}/"):
                collector.received(_decoded(body, self.headers.get("Content-Encoding", "")))
            # Anything else (OTLP spans) is accepted and dropped.
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    collector = SentryCollector(server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield collector
    finally:
        server.shutdown()
        server.server_close()
