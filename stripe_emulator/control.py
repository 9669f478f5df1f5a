"""Test-helper endpoints under /_emulator/: acting out what Stripe does on
its own (a customer paying, a renewal), moving the clock, and reading the
request counters. JSON in and out, no authentication.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from stripe_emulator import billing
from stripe_emulator.errors import StripeError
from stripe_emulator.events import AUTOMATIC
from stripe_emulator.jsontypes import JSON
from stripe_emulator.resources import checkout
from stripe_emulator.resources.webhook_endpoints import SECRET
from stripe_emulator.state import EmulatorState
from stripe_emulator.store import new_id
from stripe_emulator.views import render

PREFIX = "/_emulator"

Action = Callable[[EmulatorState, dict[str, str], JSON], JSON]


def complete_checkout(state: EmulatorState, path: dict[str, str], body: JSON) -> JSON:
    session = state.store.require("checkout.session", path["id"])
    return checkout.complete(state, session)


def renew_subscription(state: EmulatorState, path: dict[str, str], body: JSON) -> JSON:
    outcome = body.get("outcome", "succeeded")
    if outcome not in ("succeeded", "failed"):
        raise StripeError("outcome must be 'succeeded' or 'failed'", param="outcome")
    sub = state.store.require("subscription", path["id"])
    return billing.renew(state, AUTOMATIC, sub, succeeded=outcome == "succeeded")


def advance_clock(state: EmulatorState, path: dict[str, str], body: JSON) -> JSON:
    seconds = body.get("seconds")
    if not isinstance(seconds, int) or seconds < 0:
        raise StripeError("seconds must be a non-negative integer", param="seconds")
    state.clock.advance(seconds)
    return read_clock(state, path, body)


def read_clock(state: EmulatorState, path: dict[str, str], body: JSON) -> JSON:
    return {"now": state.clock.now(), "offset": state.clock.offset}


def request_counts(state: EmulatorState, path: dict[str, str], body: JSON) -> JSON:
    return state.counters.snapshot()


def reset(state: EmulatorState, path: dict[str, str], body: JSON) -> JSON:
    state.reset()
    return {"reset": True}


def healthz(state: EmulatorState, path: dict[str, str], body: JSON) -> JSON:
    return {"ok": True}


def webhook_secret(state: EmulatorState, path: dict[str, str], body: JSON) -> JSON:
    endpoint = state.store.require("webhook_endpoint", path["id"])
    return {"id": endpoint["id"], "secret": endpoint[SECRET]}


def _route(state: EmulatorState, method: str, path: str, action: Action) -> Route:
    async def handle(request: Request) -> Response:
        raw = await request.body()
        request_id = new_id("req_", 14)
        try:
            body: Any = json.loads(raw) if raw.strip() else {}
            if not isinstance(body, dict):
                raise StripeError("The request body must be a JSON object.")
            with state.store.lock:
                result = action(state, dict(request.path_params), body)
                shown = render(state.store, result)
        except json.JSONDecodeError:
            error = StripeError("The request body is not valid JSON.")
            return _json(error.body(request_id), request_id, error.status)
        except StripeError as error:
            return _json(error.body(request_id), request_id, error.status)
        return _json(shown, request_id)

    return Route(PREFIX + path, handle, methods=[method])


def _json(body: JSON, request_id: str, status: int = 200) -> Response:
    return JSONResponse(body, status_code=status, headers={"Request-Id": request_id})


def control_routes(state: EmulatorState) -> list[Route]:
    return [
        _route(state, "POST", "/checkout/sessions/{id}/complete", complete_checkout),
        _route(state, "POST", "/subscriptions/{id}/renew", renew_subscription),
        _route(state, "POST", "/clock/advance", advance_clock),
        _route(state, "GET", "/clock", read_clock),
        _route(state, "GET", "/requests", request_counts),
        _route(state, "POST", "/reset", reset),
        _route(state, "GET", "/healthz", healthz),
        _route(state, "GET", "/webhook_endpoints/{id}/secret", webhook_secret),
    ]
