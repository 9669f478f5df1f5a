"""How one /v1 request is processed, the same way for every endpoint:
count it, apply an injected fault, authenticate, decode params, honour its
Idempotency-Key, run the handler under the store lock, render the result or
the Stripe error.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stripe_emulator.call import Call, Endpoint
from stripe_emulator.errors import (
    ApiFailure,
    AuthenticationFailed,
    IdempotencyError,
    KeyInUseError,
    RateLimited,
    StripeError,
    unrecognized_url,
)
from stripe_emulator.events import DEFAULT_API_VERSION, Origin
from stripe_emulator.faults import Fault
from stripe_emulator.idempotency import KeyInUse, SavedResponse, Scope, fingerprint
from stripe_emulator.params import decode, validate
from stripe_emulator.state import EmulatorState
from stripe_emulator.store import new_id
from stripe_emulator.views import expand, render

_API_KEY = re.compile(r"^(sk|rk)_(test|live)_[A-Za-z0-9_]+$")
_IDEMPOTENT_METHODS = ("POST", "DELETE")
_DISCONNECT_POLL_S = 0.05


def api_route(state: EmulatorState, endpoint: Endpoint) -> Route:
    async def handle(request: Request) -> Response:
        return await _process(state, endpoint, request)

    return Route(endpoint.path, handle, methods=[endpoint.method])


def unrecognized_route(state: EmulatorState) -> Route:
    async def handle(request: Request) -> Response:
        route = f"{request.method} {request.url.path}"
        state.counters.received(route)
        request_id = new_id("req_", 14)
        fault = state.faults.take(route)
        if fault is not None:
            state.counters.faulted(route)
            return await _answer_fault(fault, request, request_id)
        error = unrecognized_url(request.method, request.url.path)
        return _respond(error.status, _dumps(error.body(request_id)), request_id)

    return Route("/v1/{rest:path}", handle, methods=["GET", "POST", "DELETE", "PUT", "PATCH"])


async def _process(state: EmulatorState, endpoint: Endpoint, request: Request) -> Response:
    request_id = new_id("req_", 14)
    state.counters.received(endpoint.route)
    fault = state.faults.take(endpoint.route, f"{request.method} {request.url.path}")
    delay_s = 0.0
    if fault is not None and fault.mode == "delay":
        delay_s = fault.hang_s
    elif fault is not None:
        state.counters.faulted(endpoint.route)
        return await _answer_fault(fault, request, request_id)
    try:
        api_key = _authenticate(request)
        tree = decode(await _raw_params(request))
    except StripeError as error:
        return _respond(error.status, _dumps(error.body(request_id)), request_id)
    key = request.headers.get("idempotency-key")
    if endpoint.method not in _IDEMPOTENT_METHODS:
        key = None
    origin = Origin(
        request_id=request_id,
        idempotency_key=key,
        api_version=request.headers.get("stripe-version") or DEFAULT_API_VERSION,
    )
    base_url = f"{request.url.scheme}://{request.url.netloc}"

    def run() -> tuple[int, bytes, bool]:
        return _execute(state, endpoint, tree, request.path_params, origin, base_url)

    if key is None:
        await _hang(request, delay_s)
        status, body, _ = run()
        return _respond(status, body, request_id, origin)
    scope = (api_key, key)
    print_ = fingerprint(endpoint.method, request.url.path, tree)
    try:
        async with state.idempotency.reserve(scope):
            await _hang(request, delay_s)
            return _run_once(state, endpoint, scope, print_, origin, run)
    except KeyInUse:
        in_use = KeyInUseError(
            "There is currently another in-progress request using this Idempotent Key "
            "(that probably means you submitted twice, and the other request is still "
            f"going through): {key}. Please try again later."
        )
        return _respond(
            in_use.status,
            _dumps(in_use.body(request_id)),
            request_id,
            origin,
            should_retry=True,
        )


def _run_once(
    state: EmulatorState,
    endpoint: Endpoint,
    scope: Scope,
    print_: str,
    origin: Origin,
    run: Callable[[], tuple[int, bytes, bool]],
) -> Response:
    """Replays the key's saved result, or runs the request and saves its own."""
    request_id = origin.request_id or ""
    key = scope[1]
    saved = state.idempotency.saved(scope, state.clock.now())
    if saved is not None:
        if saved.fingerprint != print_:
            mismatch = IdempotencyError(
                "Keys for idempotent requests can only be used with the same "
                "parameters they were first used with. Try using a key other than "
                f"'{key}' if you meant to execute a different request."
            )
            return _respond(mismatch.status, _dumps(mismatch.body(request_id)), request_id, origin)
        state.counters.replayed(endpoint.route)
        return _respond(saved.status, saved.body, request_id, origin, replay_of=saved.request_id)
    status, body, replayable = run()
    if replayable:
        state.idempotency.save(
            scope, SavedResponse(print_, status, body, request_id, state.clock.now())
        )
    return _respond(status, body, request_id, origin)


def _execute(
    state: EmulatorState,
    endpoint: Endpoint,
    tree: Mapping[str, Any],
    path: Mapping[str, str],
    origin: Origin,
    base_url: str,
) -> tuple[int, bytes, bool]:
    """Run the handler; answer (status, body, whether a key may replay it)."""
    with state.store.lock:
        try:
            params = validate(tree, endpoint.schema)
            result = endpoint.handler(Call(state, params, path, origin, base_url))
            shown = expand(state.store, render(state.store, result), params.strings("expand"))
            return 200, _dumps(shown), True
        except StripeError as error:
            body = _dumps(error.body(origin.request_id or ""))
            return error.status, body, error.replayable


async def _answer_fault(fault: Fault, request: Request, request_id: str) -> Response:
    """Fail the request as Stripe would, before anything is decoded or run."""
    if fault.mode == "hang":
        await _hang(request, fault.hang_s)
    error: StripeError
    if fault.mode == "rate_limit":
        error = RateLimited(
            "Too many requests hit the API too quickly. We recommend an exponential "
            "backoff of your requests.",
            code="rate_limit",
        )
        return _respond(error.status, _dumps(error.body(request_id)), request_id)
    error = ApiFailure(
        "An unknown error occurred while processing your request (emulated fault).",
        status=fault.status,
    )
    return _respond(
        error.status, _dumps(error.body(request_id)), request_id, should_retry=fault.should_retry
    )


async def _hang(request: Request, seconds: float) -> None:
    # asyncio.sleep keeps other requests flowing; stopping once the client
    # has given up lets the server shut down without waiting out the hang.
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await request.is_disconnected():
            return
        await asyncio.sleep(min(_DISCONNECT_POLL_S, max(0.0, deadline - time.monotonic())))


def _authenticate(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    key = ""
    if scheme.lower() == "bearer":
        key = credentials.strip()
    elif scheme.lower() == "basic":
        # `curl -u sk_test_...:` sends the key as the Basic-auth user name.
        try:
            key = base64.b64decode(credentials).decode().partition(":")[0]
        except ValueError:
            key = ""
    if not key:
        raise AuthenticationFailed(
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
            "YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for "
            "details, or we can help at https://support.stripe.com/."
        )
    if not _API_KEY.match(key):
        raise AuthenticationFailed(f"Invalid API Key provided: {key[:8]}****{key[-4:]}")
    return key


async def _raw_params(request: Request) -> str:
    body = (await request.body()).decode("utf-8", errors="replace")
    return "&".join(part for part in (request.url.query, body) if part)


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, indent=2).encode()


def _respond(
    status: int,
    body: bytes,
    request_id: str,
    origin: Origin | None = None,
    replay_of: str | None = None,
    should_retry: bool | None = None,
) -> Response:
    headers = {"Request-Id": request_id}
    if should_retry is not None:
        headers["Stripe-Should-Retry"] = "true" if should_retry else "false"
    if origin is not None:
        headers["Stripe-Version"] = origin.api_version
        if origin.idempotency_key is not None:
            headers["Idempotency-Key"] = origin.idempotency_key
    if replay_of is not None:
        headers["Idempotent-Replayed"] = "true"
        headers["Original-Request"] = replay_of
    return Response(body, status_code=status, media_type="application/json", headers=headers)
