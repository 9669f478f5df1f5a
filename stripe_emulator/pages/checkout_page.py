"""The hosted checkout page at a session's `url`: the plan, its price and a
card field that takes Stripe's test cards. Paying completes the session the
way the /_emulator helper does (`checkout.complete`), so the same events
and webhooks follow, then redirects to `success_url` as Stripe does."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stripe_emulator.errors import StripeError
from stripe_emulator.jsontypes import JSON
from stripe_emulator.pages import wording
from stripe_emulator.pages.cards import read_card
from stripe_emulator.pages.forms import form_fields, see_other
from stripe_emulator.pages.html import Html, fill, join, page, safe_url
from stripe_emulator.resources import checkout
from stripe_emulator.state import EmulatorState

PATH = "/checkout/pay/{id}"
# Stripe puts the session's id wherever success_url holds this placeholder.
SESSION_PLACEHOLDER = "{CHECKOUT_SESSION_ID}"

_FORM = """
<table>$lines</table>
<p>Total due today: <strong id="total">$total</strong></p>
$error
<form method="post" action="$action">
<label for="card_number">Card number</label>
<input id="card_number" name="card_number" inputmode="numeric" autocomplete="cc-number"
  placeholder="4242 4242 4242 4242" value="$typed" required>
<button id="pay" type="submit">$verb</button>
</form>
<p class="note">Test cards: 4242 4242 4242 4242 succeeds;
4000 0000 0000 0341 succeeds now and fails at renewal;
4000 0000 0000 9995 is declined.</p>
$cancel
"""
_LINE = '<tr class="line"><td class="plan">$name</td><td>$price</td><td>&times; $quantity</td></tr>'
_CANCEL = '<p><a id="cancel" href="$url">Cancel and go back</a></p>'
_ERROR = '<p class="error" id="error" role="alert">$message</p>'
_GONE = '<p id="gone">$message</p>'


def checkout_routes(state: EmulatorState) -> list[Route]:
    async def show(request: Request) -> Response:
        with state.store.lock:
            return _show(state, request.path_params["id"])

    async def pay(request: Request) -> Response:
        fields = await form_fields(request)
        with state.store.lock:
            return _pay(state, request.path_params["id"], fields.get("card_number", ""))

    return [Route(PATH, show, methods=["GET"]), Route(PATH, pay, methods=["POST"])]


def _session(state: EmulatorState, session_id: str) -> JSON | None:
    """The hosted session with this id (expired once its time is up), if any."""
    session = state.store.get("checkout.session", session_id)
    if session is None or session["url"] is None:
        return None
    return checkout.expire_if_due(state, session)


def _show(state: EmulatorState, session_id: str) -> Response:
    session = _session(state, session_id)
    if session is None:
        return _missing()
    if session["status"] != "open":
        return _gone(session)
    return _form(state, session)


def _pay(state: EmulatorState, session_id: str, card_number: str) -> Response:
    session = _session(state, session_id)
    if session is None:
        return _missing()
    if session["status"] != "open":
        return _gone(session)
    card = read_card(card_number)
    if card.payment_method is None:
        # 402, as Stripe answers a declined card; the session stays open.
        return _form(state, session, error=card.decline or "", typed=card_number, status=402)
    try:
        checkout.complete(state, session, card.payment_method)
    except StripeError as error:
        return _form(state, session, error=error.message, typed=card_number, status=error.status)
    target = safe_url(session["success_url"])
    if target is None:
        return page("Payment complete", fill(_GONE, message="Thanks: the payment went through."))
    return see_other(target.replace(SESSION_PLACEHOLDER, session["id"]))


def _form(
    state: EmulatorState, session: JSON, *, error: str = "", typed: str = "", status: int = 200
) -> Response:
    items = checkout.line_items(state, session)
    lines = join(
        [
            fill(
                _LINE,
                name=item["description"],
                price=wording.price(item["price"]),
                quantity=item["quantity"],
            )
            for item in items
        ]
    )
    currency = session["currency"] or "usd"
    cancel = safe_url(session["cancel_url"])
    body = fill(
        _FORM,
        lines=lines,
        total=wording.amount(_due_today(session, items), currency),
        error=fill(_ERROR, message=error) if error else Html(""),
        action=f"/checkout/pay/{session['id']}",
        typed=typed,
        verb="Subscribe" if session["mode"] == "subscription" else "Pay",
        cancel=fill(_CANCEL, url=cancel) if cancel else Html(""),
    )
    return page(_title(items), body, status)


def _due_today(session: JSON, items: list[JSON]) -> int:
    if session["mode"] == "setup" or session[checkout.TRIAL_DAYS]:
        return 0
    return sum(int(item["amount_total"]) for item in items)


def _title(items: list[JSON]) -> str:
    return f"Subscribe to {items[0]['description']}" if items else "Save a card"


def _missing() -> Response:
    return page("No such checkout", fill(_GONE, message="This checkout does not exist."), 404)


def _gone(session: JSON) -> Response:
    message = (
        "This checkout is already paid."
        if session["status"] == "complete"
        else "This checkout has expired. Start a new one from the app."
    )
    # 410: the session existed, and will never be payable again.
    return page("Checkout unavailable", fill(_GONE, message=message), 410)
