"""/_emulator/webhooks/*: reading the delivery log and steering deliveries.

Documented in the emulator README; `testing.EmulatorControl` wraps each one.
"""

from __future__ import annotations

import asyncio

from starlette.routing import Route

from stripe_emulator.errors import StripeError
from stripe_emulator.helper_routes import async_helper_route, helper_route
from stripe_emulator.jsontypes import JSON
from stripe_emulator.state import EmulatorState
from stripe_emulator.webhooks.settings import Chaos

DEFAULT_FLUSH_TIMEOUT_S = 10.0
MAX_FLUSH_TIMEOUT_S = 300.0


def deliveries(state: EmulatorState, path: dict[str, str], body: JSON) -> JSON:
    return state.webhooks.queue.deliveries()


def pause(state: EmulatorState, path: dict[str, str], body: JSON) -> JSON:
    state.webhooks.queue.pause()
    return state.webhooks.queue.summary()


def resume(state: EmulatorState, path: dict[str, str], body: JSON) -> JSON:
    state.webhooks.queue.resume()
    return state.webhooks.queue.summary()


def set_chaos(state: EmulatorState, path: dict[str, str], body: JSON) -> JSON:
    state.webhooks.queue.set_chaos(Chaos.from_json(body))
    return state.webhooks.queue.chaos().to_json()


def resend(state: EmulatorState, path: dict[str, str], body: JSON) -> JSON:
    event = state.store.require("event", path["id"])
    return {"id": event["id"], "endpoints": state.webhooks.resend(event)}


async def flush(state: EmulatorState, path: dict[str, str], body: JSON) -> JSON:
    timeout = body.get("timeout_s", DEFAULT_FLUSH_TIMEOUT_S)
    if (
        not isinstance(timeout, int | float)
        or isinstance(timeout, bool)
        or not 0 <= timeout <= MAX_FLUSH_TIMEOUT_S
    ):
        raise StripeError(
            f"timeout_s must be a number of seconds from 0 to {MAX_FLUSH_TIMEOUT_S:g}",
            param="timeout_s",
        )
    # Waiting happens on a thread, so the API keeps serving meanwhile.
    flushed = await asyncio.to_thread(state.webhooks.queue.wait_idle, float(timeout))
    return {**state.webhooks.queue.summary(), "flushed": flushed}


def webhook_routes(state: EmulatorState) -> list[Route]:
    return [
        helper_route(state, "GET", "/webhooks/deliveries", deliveries),
        helper_route(state, "POST", "/webhooks/pause", pause),
        helper_route(state, "POST", "/webhooks/resume", resume),
        helper_route(state, "POST", "/webhooks/chaos", set_chaos),
        async_helper_route(state, "POST", "/webhooks/flush", flush),
        helper_route(state, "POST", "/events/{id}/resend", resend),
    ]
