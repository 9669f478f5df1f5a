"""Test-helper endpoints under /_emulator/: acting out what Stripe does on
its own (a customer paying, a renewal, a billing-portal change), moving the
clock, reading the request counters and injecting API faults. JSON in and
out, no authentication. The webhook helpers live in `webhooks/routes.py`.
"""

from __future__ import annotations

from starlette.routing import Route

from stripe_emulator import billing, clocks, dunning, portal_changes, timeline
from stripe_emulator.errors import StripeError
from stripe_emulator.events import AUTOMATIC
from stripe_emulator.faults import Fault
from stripe_emulator.helper_routes import helper_route
from stripe_emulator.jsontypes import JSON
from stripe_emulator.objects.webhook import SECRET
from stripe_emulator.resources import checkout
from stripe_emulator.state import EmulatorState
from stripe_emulator.webhooks.routes import webhook_routes


def complete_checkout(state: EmulatorState, path: dict[str, str], body: JSON) -> JSON:
    session = state.store.require("checkout.session", path["id"])
    return checkout.complete(state, session)


def renew_subscription(state: EmulatorState, path: dict[str, str], body: JSON) -> JSON:
    outcome = body.get("outcome", "succeeded")
    if outcome not in ("succeeded", "failed"):
        raise StripeError("outcome must be 'succeeded' or 'failed'", param="outcome")
    sub = state.store.require("subscription", path["id"])
    with state.clock.frozen_at(clocks.clock_time(state, sub["customer"])):
        return billing.renew(state, AUTOMATIC, sub, succeeded=outcome == "succeeded")


def advance_clock(state: EmulatorState, path: dict[str, str], body: JSON) -> JSON:
    """Move the emulator's time; what falls due meanwhile happens, in order."""
    seconds = body.get("seconds")
    if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds < 0:
        raise StripeError("seconds must be a non-negative integer", param="seconds")
    now = state.clock.advance(seconds)
    timeline.advance(state, clocks.subscriptions_on(state, None), now)
    return read_clock(state, path, body)


def read_clock(state: EmulatorState, path: dict[str, str], body: JSON) -> JSON:
    return {"now": state.clock.now(), "offset": state.clock.offset}


def attach_to_test_clock(state: EmulatorState, path: dict[str, str], body: JSON) -> JSON:
    """Put a customer that has no subscription yet on a test clock, as if it
    had been created with `test_clock` (for customers a service creates)."""
    customer = state.store.require("customer", path["id"])
    clock_id = body.get("test_clock")
    if not isinstance(clock_id, str):
        raise StripeError("test_clock must be a test clock id", param="test_clock")
    state.store.require(clocks.TEST_CLOCK, clock_id, param="test_clock")
    if any(s["customer"] == customer["id"] for s in state.store.newest_first("subscription")):
        raise StripeError(
            "Only a customer without subscriptions can be put on a test clock.",
            param="test_clock",
        )
    customer["test_clock"] = clock_id
    return customer


def set_dunning(state: EmulatorState, path: dict[str, str], body: JSON) -> JSON:
    final = body.get("final_status", "canceled")
    if final not in dunning.FINAL_STATUSES:
        raise StripeError(
            f"final_status must be one of {', '.join(dunning.FINAL_STATUSES)}",
            param="final_status",
        )
    state.dunning_final_status = final
    return read_dunning(state, path, body)


def read_dunning(state: EmulatorState, path: dict[str, str], body: JSON) -> JSON:
    return {
        "retry_days": list(billing.RETRY_SCHEDULE_DAYS),
        "final_status": state.dunning_final_status,
    }


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


def update_subscription(state: EmulatorState, path: dict[str, str], body: JSON) -> JSON:
    return portal_changes.update_subscription(state, path["id"], body)


def inject_fault(state: EmulatorState, path: dict[str, str], body: JSON) -> JSON:
    state.faults.inject(Fault.from_json(body))
    return list_faults(state, path, body)


def list_faults(state: EmulatorState, path: dict[str, str], body: JSON) -> JSON:
    return {"faults": state.faults.active()}


def clear_faults(state: EmulatorState, path: dict[str, str], body: JSON) -> JSON:
    state.faults.clear()
    return {"faults": []}


def control_routes(state: EmulatorState) -> list[Route]:
    return [
        helper_route(state, "POST", "/checkout/sessions/{id}/complete", complete_checkout),
        helper_route(state, "POST", "/subscriptions/{id}/renew", renew_subscription),
        helper_route(state, "POST", "/subscriptions/{id}/update", update_subscription),
        helper_route(state, "POST", "/clock/advance", advance_clock),
        helper_route(state, "GET", "/clock", read_clock),
        helper_route(state, "POST", "/dunning", set_dunning),
        helper_route(state, "POST", "/customers/{id}/test_clock", attach_to_test_clock),
        helper_route(state, "GET", "/dunning", read_dunning),
        helper_route(state, "GET", "/requests", request_counts),
        helper_route(state, "POST", "/reset", reset),
        helper_route(state, "GET", "/healthz", healthz),
        helper_route(state, "GET", "/webhook_endpoints/{id}/secret", webhook_secret),
        helper_route(state, "POST", "/faults", inject_fault),
        helper_route(state, "GET", "/faults", list_faults),
        helper_route(state, "DELETE", "/faults", clear_faults),
        *webhook_routes(state),
    ]
