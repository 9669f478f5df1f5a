"""The bare endpoint webhook intake is compared with: verify, answer 200.

    python -m bench._hmac_endpoint --port 8099

A Starlette route that reads the body, checks its Stripe signature with
stripe.WebhookSignature.verify_header and answers 200, served by uvicorn
with the gateway's flags (uvloop, httptools, no access log).
"""

from __future__ import annotations

import argparse

import stripe
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench._webhook_events import WEBHOOK_SECRET

PATH = "/stripe/webhook"


async def _receive(request: Request) -> Response:
    body = await request.body()
    try:
        stripe.WebhookSignature.verify_header(
            body.decode("utf-8"), request.headers.get("stripe-signature", ""), WEBHOOK_SECRET, 300
        )
    except stripe.SignatureVerificationError:
        return JSONResponse({"error": "invalid signature"}, status_code=400)
    return JSONResponse({"received": True})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = Starlette(routes=[Route(PATH, _receive, methods=["POST"])])
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        limit_concurrency=200,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
