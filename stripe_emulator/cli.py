"""`stripe-emulator`: serve the emulator from the command line."""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Sequence

from stripe_emulator.server import build_server, serve
from stripe_emulator.state import EmulatorState
from stripe_emulator.webhooks import RetryPolicy, WebhookSettings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 12111
_DEFAULT_RETRY = RetryPolicy()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    env = os.environ
    parser = argparse.ArgumentParser(
        prog="stripe-emulator",
        description="Serve a Stripe API emulator over HTTP for tests.",
    )
    parser.add_argument("--host", default=env.get("PAYMENTSVC_EMULATOR_HOST", DEFAULT_HOST))
    parser.add_argument(
        "--port",
        type=int,
        default=int(env.get("PAYMENTSVC_EMULATOR_PORT", DEFAULT_PORT)),
        help="0 picks a free port; the ready line names it",
    )
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=["critical", "error", "warning", "info", "debug", "trace"],
    )
    hooks = parser.add_argument_group("webhooks")
    hooks.add_argument(
        "--webhook-url",
        default=env.get("PAYMENTSVC_EMULATOR_WEBHOOK_URL"),
        help="deliver every event here (as well as to endpoints registered via the API)",
    )
    hooks.add_argument(
        "--webhook-secret",
        default=env.get("STRIPE_WEBHOOK_SECRET"),
        help="the whsec_... secret that signs deliveries to --webhook-url",
    )
    hooks.add_argument(
        "--webhook-retry-base",
        type=float,
        default=float(env.get("PAYMENTSVC_EMULATOR_WEBHOOK_RETRY_BASE", _DEFAULT_RETRY.base_s)),
        help="seconds before the first retry; doubles per attempt up to --webhook-retry-cap",
    )
    hooks.add_argument(
        "--webhook-retry-cap",
        type=float,
        default=float(env.get("PAYMENTSVC_EMULATOR_WEBHOOK_RETRY_CAP", _DEFAULT_RETRY.cap_s)),
    )
    hooks.add_argument(
        "--webhook-max-attempts",
        type=int,
        default=int(
            env.get("PAYMENTSVC_EMULATOR_WEBHOOK_MAX_ATTEMPTS", _DEFAULT_RETRY.max_attempts)
        ),
    )
    hooks.add_argument(
        "--webhook-timeout",
        type=float,
        default=float(env.get("PAYMENTSVC_EMULATOR_WEBHOOK_TIMEOUT", _DEFAULT_RETRY.timeout_s)),
        help="seconds to wait for a receiver's answer before counting an attempt failed",
    )
    args = parser.parse_args(argv)
    if args.webhook_url and not args.webhook_secret:
        parser.error("--webhook-url needs --webhook-secret (or STRIPE_WEBHOOK_SECRET)")
    return args


def webhook_settings(args: argparse.Namespace) -> WebhookSettings:
    retry = RetryPolicy(
        base_s=args.webhook_retry_base,
        cap_s=args.webhook_retry_cap,
        max_attempts=args.webhook_max_attempts,
        timeout_s=args.webhook_timeout,
    )
    if not args.webhook_url:
        return WebhookSettings(retry=retry)
    return WebhookSettings(args.webhook_url, args.webhook_secret, retry)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    state = EmulatorState(webhooks=webhook_settings(args))
    server = build_server(args.host, args.port, state=state, log_level=args.log_level)

    def announce(url: str) -> None:
        # Scripts and testing.run_emulator_process wait for this exact line.
        print(f"stripe-emulator listening on {url}", flush=True)

    try:
        asyncio.run(serve(server, announce))
    finally:
        state.close()
