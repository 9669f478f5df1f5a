"""`stripe-emulator`: serve the emulator from the command line."""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Sequence

from stripe_emulator.server import build_server, serve

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 12111


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="stripe-emulator",
        description="Serve a Stripe API emulator over HTTP for tests.",
    )
    parser.add_argument("--host", default=os.environ.get("PAYMENTSVC_EMULATOR_HOST", DEFAULT_HOST))
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("PAYMENTSVC_EMULATOR_PORT", DEFAULT_PORT)),
        help="0 picks a free port; the ready line names it",
    )
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=["critical", "error", "warning", "info", "debug", "trace"],
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    server = build_server(args.host, args.port, log_level=args.log_level)

    def announce(url: str) -> None:
        # Scripts and testing.run_emulator_process wait for this exact line.
        print(f"stripe-emulator listening on {url}", flush=True)

    asyncio.run(serve(server, announce))
