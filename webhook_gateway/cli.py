"""`webhook-gateway`: serves the gateway with uvicorn (uvloop and httptools)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence
from types import FrameType

import uvicorn

from paymentsvc_observability.logs import configure_logging
from webhook_gateway.config import GatewayConfigError, GatewaySettings


def main(argv: Sequence[str] | None = None) -> int:
    argparse.ArgumentParser(
        prog="webhook-gateway",
        description="Receives Stripe webhooks and forwards them to the billing server.",
    ).parse_args(argv)
    try:
        settings = GatewaySettings.from_env()
    except GatewayConfigError as exc:
        print(f"webhook-gateway: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, as_json=settings.log_json)
    # uvicorn handles SIGTERM itself: it stops accepting, lets requests in
    # flight finish and runs the lifespan shutdown (closing the gRPC channel).
    # Then it re-raises the signal to the handler it found; this one lets
    # the process end normally, with exit code 0.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _after_graceful_shutdown)
    uvicorn.run(
        "webhook_gateway.app:create_app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        limit_concurrency=settings.max_concurrency,
        loop="uvloop",
        http="httptools",
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=10,
        access_log=False,
    )
    return 0


def _after_graceful_shutdown(signum: int, frame: FrameType | None) -> None:
    logging.getLogger("webhook_gateway").info("stopped after signal %d", signum)
