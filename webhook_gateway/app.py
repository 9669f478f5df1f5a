"""The gateway's HTTP app: Stripe webhooks in, gRPC to the billing server out."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from opentelemetry import trace
from opentelemetry.trace import SpanKind
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from billing_server.adapters.webhook_signatures import InvalidSignature, verify
from paymentsvc_observability import request_ids
from paymentsvc_observability.error_tracking import configure_error_tracking
from paymentsvc_observability.logs import configure_logging
from paymentsvc_observability.tracing import configure_tracing, context_from, shutdown_tracing
from webhook_gateway.body import BodyTooLarge, read_limited
from webhook_gateway.config import GatewaySettings
from webhook_gateway.forwarding import EventForwarder, Forwarded, Verdict
from webhook_gateway.metrics import GatewayMetrics

log = logging.getLogger("webhook_gateway")
REQUEST_ID_HEADER = "X-Request-Id"


def create_app(
    settings: GatewaySettings,
    forwarder: EventForwarder | None = None,
    metrics: GatewayMetrics | None = None,
    *,
    tracing: bool = False,
) -> Starlette:
    forwarder = forwarder or EventForwarder(
        settings.billing_target,
        settings.forward_timeout_s,
        settings.billing_token,
        settings.channel_credentials(),
    )
    metrics = metrics or GatewayMetrics.create()
    tracer = trace.get_tracer("webhook_gateway")

    async def receive_webhook(request: Request) -> Response:
        token = request_ids.adopt(request.headers.get(REQUEST_ID_HEADER))
        try:
            with tracer.start_as_current_span(
                f"POST {settings.webhook_path}",
                context=context_from(request.headers.items()),
                kind=SpanKind.SERVER,
                attributes={"http.request.method": "POST", "url.path": settings.webhook_path},
            ) as span:
                try:
                    response = await _handle(request)
                except Exception:
                    # Logged here, within the request's id and span (the error tracker's tags).
                    log.exception("unexpected error handling a webhook")
                    raise
                span.set_attribute("http.response.status_code", response.status_code)
            metrics.requests.labels(str(response.status_code)).inc()
            response.headers[REQUEST_ID_HEADER] = request_ids.current() or ""
            log.info(
                "webhook %d",
                response.status_code,
                extra={"status_code": response.status_code, "path": settings.webhook_path},
            )
            return response
        finally:
            request_ids.release(token)

    async def _handle(request: Request) -> Response:
        try:
            payload = await read_limited(request, settings.max_body_bytes)
        except BodyTooLarge:
            return _error(413, "body too large")
        signature = request.headers.get("stripe-signature")
        try:
            verify(payload, signature, settings.webhook_secrets, settings.tolerance_s)
        except InvalidSignature as exc:
            metrics.signature_failures.inc()
            log.warning("webhook refused: %s", exc)
            return _error(400, "invalid signature")
        if not _looks_like_event(payload):
            return _error(400, "not a Stripe event")

        # The server checks the signature again before it stores anything.
        assert signature is not None
        forwarded = await _forward(payload, signature)
        if forwarded.verdict is Verdict.RECORDED:
            log.info("event %s %s", forwarded.event_id, forwarded.outcome)
            return JSONResponse(
                {"received": True, "event_id": forwarded.event_id, "outcome": forwarded.outcome}
            )
        if forwarded.verdict is Verdict.REJECTED:
            metrics.forward_failures.labels("rejected").inc()
            log.warning("billing server rejected an event: %s", forwarded.detail)
            return _error(400, "event rejected")
        # Not stored: a 5xx makes Stripe deliver it again later.
        metrics.forward_failures.labels("retry").inc()
        log.error("event not stored (%s); Stripe will retry", forwarded.detail)
        return _error(503, "billing server unavailable")

    async def _forward(payload: bytes, signature: str) -> Forwarded:
        started = time.perf_counter()
        with tracer.start_as_current_span("forward IngestEvent", kind=SpanKind.CLIENT):
            forwarded = await forwarder.forward(payload, signature)
        metrics.forward_latency.observe(time.perf_counter() - started)
        return forwarded

    async def metrics_endpoint(request: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

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
            if tracing:
                shutdown_tracing()  # flushes the spans still buffered

    return Starlette(
        routes=[
            Route(settings.webhook_path, receive_webhook, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


def create_app_from_env() -> Starlette:
    """The factory uvicorn workers call (each builds its own app, metrics and tracer)."""
    settings = GatewaySettings.from_env()
    configure_logging(settings.log_level, as_json=settings.log_json)
    configure_error_tracking("webhook-gateway")
    return create_app(settings, tracing=configure_tracing("webhook-gateway"))


def _looks_like_event(payload: bytes) -> bool:
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError):
        return False
    return (
        isinstance(data, dict)
        and data.get("object") == "event"
        and isinstance(data.get("id"), str)
        and isinstance(data.get("type"), str)
    )


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)
