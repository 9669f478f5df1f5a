"""/v1/test_helpers/test_clocks: time that tests move by hand.

Advancing a clock plays out, in order and each at its own time, what
happens to its customers' subscriptions up to the new frozen time (see
`timeline.py`). Stripe does that in the background and answers with the
clock still `advancing`; here the work is done when the answer comes, but
the answer is the same, and the clock reads `ready` from then on.
"""

from __future__ import annotations

from stripe_emulator import timeline
from stripe_emulator.call import Call, Endpoint
from stripe_emulator.clocks import TEST_CLOCK, subscriptions_on
from stripe_emulator.errors import StripeError
from stripe_emulator.jsontypes import JSON
from stripe_emulator.objects.lists import deleted
from stripe_emulator.objects.test_clock import test_clock
from stripe_emulator.pagination import paginate
from stripe_emulator.params import INTEGER, STRING, list_params, obj
from stripe_emulator.store import new_id
from stripe_emulator.views import render

CREATE = obj(frozen_time=INTEGER, name=STRING)
ADVANCE = obj(frozen_time=INTEGER)
PATH = "/v1/test_helpers/test_clocks"


def create(call: Call) -> JSON:
    clock = test_clock(
        new_id("clock_"),
        call.now(),
        frozen_time=call.params.require_integer("frozen_time"),
        name=call.params.string("name"),
    )
    call.store.insert(clock)
    call.events.record("test_helpers.test_clock.created", clock, call.origin)
    return clock


def retrieve(call: Call) -> JSON:
    return call.store.require(TEST_CLOCK, call.id)


def advance(call: Call) -> JSON:
    clock = call.store.require(TEST_CLOCK, call.id)
    target = call.params.require_integer("frozen_time")
    if target <= clock["frozen_time"]:
        raise StripeError(
            "The test clock can only be advanced to a time after its current frozen_time "
            f"({clock['frozen_time']}).",
            param="frozen_time",
        )
    clock.update(status="advancing", status_details={"advancing": {"target_frozen_time": target}})
    call.events.record("test_helpers.test_clock.advancing", clock, call.origin)
    answer = render(call.store, clock)
    timeline.advance(call.state, subscriptions_on(call.state, clock["id"]), target)
    clock.update(frozen_time=target, status="ready", status_details={"advancing": None})
    call.events.record("test_helpers.test_clock.ready", clock, call.origin)
    return answer


def delete(call: Call) -> JSON:
    """Delete the clock with every customer and subscription on it, as Stripe does."""
    clock = call.store.require(TEST_CLOCK, call.id)
    for sub in subscriptions_on(call.state, clock["id"]):
        call.store.delete("subscription", sub["id"])
    for customer in call.store.newest_first("customer"):
        if customer["test_clock"] == clock["id"]:
            call.store.delete("customer", customer["id"])
    call.store.delete(TEST_CLOCK, clock["id"])
    call.events.record("test_helpers.test_clock.deleted", clock, call.origin)
    return deleted(clock["id"], TEST_CLOCK)


def list_clocks(call: Call) -> JSON:
    return paginate(call.store.newest_first(TEST_CLOCK), call.params, PATH)


ENDPOINTS = [
    Endpoint("POST", PATH, CREATE, create),
    Endpoint("GET", PATH, list_params(), list_clocks),
    Endpoint("GET", PATH + "/{id}", obj(), retrieve),
    Endpoint("DELETE", PATH + "/{id}", obj(), delete),
    Endpoint("POST", PATH + "/{id}/advance", ADVANCE, advance),
]
