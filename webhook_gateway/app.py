"""The gateway's HTTP app: Stripe webhooks in, gRPC to the billing server out."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from webhook_gateway.body import BodyTooLarge, read_limited
from webhook_gateway.config import GatewaySettings
from webhook_gateway.forwarding import EventForwarder, Verdict
from webhook_gateway.signature import InvalidSignature, verify

log = logging.getLogger("webhook_gateway")


def create_app(settings: GatewaySettings, forwarder: EventForwarder | None = None) -> Starlette:
    forwarder = forwarder or EventForwarder(
        settings.billing_target,
        settings.forward_timeout_s,
        settings.billing_token,
        settings.channel_credentials(),
    )

    async def receive_webhook(request: Request) -> Response:
        try:
            payload = await read_limited(request, settings.max_body_bytes)
        except BodyTooLarge:
            return _error(413, "body too large")
        try:
            verify(
                payload,
                request.headers.get("stripe-signature"),
                settings.webhook_secrets,
                settings.tolerance_s,
            )
        except InvalidSignature as exc:
            log.warning("webhook refused: %s", exc)
            return _error(400, "invalid signature")
        if not _looks_like_event(payload):
            return _error(400, "not a Stripe event")

        forwarded = await forwarder.forward(payload)
        if forwarded.verdict is Verdict.RECORDED:
            log.info("event %s %s", forwarded.event_id, forwarded.outcome)
            return JSONResponse(
                {"received": True, "event_id": forwarded.event_id, "outcome": forwarded.outcome}
            )
        if forwarded.verdict is Verdict.REJECTED:
            log.warning("billing server rejected an event: %s", forwarded.detail)
            return _error(400, "event rejected")
        # Not recorded: a 5xx makes Stripe deliver it again later.
        log.error("event not recorded (%s); Stripe will retry", forwarded.detail)
        return _error(503, "billing server unavailable")

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        if await forwarder.ready():
            return JSONResponse({"status": "ready"})
        return _error(503, "billing server not serving")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await forwarder.open()
        try:
            yield
        finally:
            await forwarder.close()

    return Starlette(
        routes=[
            Route(settings.webhook_path, receive_webhook, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


def create_app_from_env() -> Starlette:
    """The factory uvicorn workers call (each builds its own app)."""
    return create_app(GatewaySettings.from_env())


def _looks_like_event(payload: bytes) -> bool:
    try:
        data = json.loads(payload)
    except ValueError:
        return False
    return (
        isinstance(data, dict)
        and data.get("object") == "event"
        and isinstance(data.get("id"), str)
        and isinstance(data.get("type"), str)
    )


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)
