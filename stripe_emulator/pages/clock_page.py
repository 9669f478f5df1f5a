"""A page that moves time forward: the emulator's own clock (customers on
no test clock) or one test clock. It runs the same code as
POST /_emulator/clock/advance and POST /v1/test_helpers/test_clocks/{id}/advance,
so renewals, failed payments and scheduled cancellations happen, with
their webhooks."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stripe_emulator import control
from stripe_emulator.call import Call
from stripe_emulator.clocks import TEST_CLOCK
from stripe_emulator.errors import StripeError
from stripe_emulator.events import AUTOMATIC
from stripe_emulator.pages import wording
from stripe_emulator.pages.forms import form_fields, see_other
from stripe_emulator.pages.html import Html, fill, join, page
from stripe_emulator.params import validate
from stripe_emulator.periods import days
from stripe_emulator.resources import test_clocks
from stripe_emulator.state import EmulatorState

PATH = "/clock"
MAX_DAYS = 3660

_CLOCK = """<section class="clock">
<h2>$name</h2>
<p>Now: <span class="now">$now</span></p>
<form method="post" action="/clock/advance">
<input type="hidden" name="test_clock" value="$clock_id">
<label>Advance by <input name="days" type="number" min="1" max="$max" value="30"> days</label>
<button type="submit">Advance</button>
</form>
</section>"""
_ERROR = '<p class="error" id="error" role="alert">$message</p>'


def clock_routes(state: EmulatorState) -> list[Route]:
    async def show(request: Request) -> Response:
        with state.store.lock:
            return _page(state)

    async def advance(request: Request) -> Response:
        fields = await form_fields(request)
        with state.store.lock:
            try:
                _advance(state, fields.get("days", ""), fields.get("test_clock", ""))
            except StripeError as error:
                return _page(state, error=error.message, status=error.status)
        return see_other(PATH)

    return [
        Route(PATH, show, methods=["GET"]),
        Route(PATH + "/advance", advance, methods=["POST"]),
    ]


def _advance(state: EmulatorState, typed_days: str, clock_id: str) -> None:
    if not typed_days.isdigit() or not 1 <= int(typed_days) <= MAX_DAYS:
        raise StripeError(f"days must be a whole number from 1 to {MAX_DAYS}", param="days")
    seconds = days(int(typed_days))
    if not clock_id:
        control.advance_clock(state, {}, {"seconds": seconds})
        return
    clock = state.store.get(TEST_CLOCK, clock_id)
    if clock is None:
        raise StripeError(f"No such test clock: '{clock_id}'", param="test_clock", status=404)
    params = validate({"frozen_time": str(clock["frozen_time"] + seconds)}, test_clocks.ADVANCE)
    test_clocks.advance(Call(state, params, {"id": clock_id}, AUTOMATIC, ""))


def _page(state: EmulatorState, *, error: str = "", status: int = 200) -> Response:
    own = fill(
        _CLOCK,
        name="The emulator's clock (customers on no test clock)",
        now=wording.moment(state.clock.real_now()),
        clock_id="",
        max=MAX_DAYS,
    )
    test = [
        fill(
            _CLOCK,
            name=f"Test clock {clock['name'] or clock['id']}",
            now=wording.moment(clock["frozen_time"]),
            clock_id=clock["id"],
            max=MAX_DAYS,
        )
        for clock in reversed(state.store.newest_first(TEST_CLOCK))
    ]
    body = join([fill(_ERROR, message=error) if error else Html(""), own, *test])
    return page("Time", body, status)
