"""The emulator keeps idle connections open longer than its clients do."""

from __future__ import annotations

import httpx

from stripe_emulator.server import build_server


def test_idle_connections_outlive_the_clients_keep_alive() -> None:
    # A client reuses an idle connection for up to its own expiry; a server
    # closing sooner, or at the same moment, drops requests sent on it.
    server = build_server("127.0.0.1", 0)
    client_expiry = httpx.Limits().keepalive_expiry
    assert client_expiry is not None
    assert server.config.timeout_keep_alive > 2 * client_expiry
