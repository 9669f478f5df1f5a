"""How a /_emulator test-helper endpoint is served: JSON in, JSON out, no auth,
errors in Stripe's shape. Actions run under the store lock."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from stripe_emulator.errors import StripeError
from stripe_emulator.jsontypes import JSON
from stripe_emulator.state import EmulatorState
from stripe_emulator.store import new_id
from stripe_emulator.views import render

PREFIX = "/_emulator"

Action = Callable[[EmulatorState, dict[str, str], JSON], JSON]
AsyncAction = Callable[[EmulatorState, dict[str, str], JSON], Awaitable[JSON]]


def helper_route(state: EmulatorState, method: str, path: str, action: Action) -> Route:
    """A helper whose action runs atomically under the store lock."""

    async def locked(state: EmulatorState, path: dict[str, str], body: JSON) -> JSON:
        with state.store.lock:
            return render(state.store, action(state, path, body))

    return async_helper_route(state, method, path, locked)


def async_helper_route(state: EmulatorState, method: str, path: str, action: AsyncAction) -> Route:
    """A helper that may wait (without the store lock), e.g. for deliveries to settle."""

    async def handle(request: Request) -> Response:
        raw = await request.body()
        request_id = new_id("req_", 14)
        try:
            body: Any = json.loads(raw) if raw.strip() else {}
            if not isinstance(body, dict):
                raise StripeError("The request body must be a JSON object.")
            shown = await action(state, dict(request.path_params), body)
        except json.JSONDecodeError:
            error = StripeError("The request body is not valid JSON.")
            return _json(error.body(request_id), request_id, error.status)
        except StripeError as error:
            return _json(error.body(request_id), request_id, error.status)
        return _json(shown, request_id)

    return Route(PREFIX + path, handle, methods=[method])


def _json(body: JSON, request_id: str, status: int = 200) -> Response:
    return JSONResponse(body, status_code=status, headers={"Request-Id": request_id})
