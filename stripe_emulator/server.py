"""Serving the emulator with uvicorn, on a fixed port or a free one (port 0)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import uvicorn

from stripe_emulator.app import create_app
from stripe_emulator.state import EmulatorState
from stripe_emulator.webhooks import WebhookSettings

# Requests still running at shutdown (an injected hang) are cut off after this.
GRACEFUL_SHUTDOWN_S = 2
# How long an idle keep-alive connection stays open. Clients (httpx, the
# stripe library) keep theirs about 5 s, uvicorn's own default: with equal
# timers a request can go out on a connection the server is closing, and
# the client sees the connection drop instead of an answer.
KEEP_ALIVE_S = 60


def build_server(
    host: str,
    port: int,
    *,
    state: EmulatorState | None = None,
    log_level: str = "warning",
    webhooks: WebhookSettings | None = None,
) -> uvicorn.Server:
    config = uvicorn.Config(
        create_app(state, webhooks=webhooks),
        host=host,
        port=port,
        log_level=log_level,
        lifespan="off",
        access_log=log_level in ("debug", "trace"),
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        timeout_keep_alive=KEEP_ALIVE_S,
    )
    return uvicorn.Server(config)


def base_url(server: uvicorn.Server) -> str:
    """The URL the started `server` listens on (its real port if it asked for 0)."""
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    return f"http://{host}:{port}"


async def serve(server: uvicorn.Server, on_ready: Callable[[str], None]) -> None:
    """Run `server` until it exits, calling `on_ready(url)` once it listens."""
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            break
        await asyncio.sleep(0.01)
    else:
        on_ready(base_url(server))
    await task
