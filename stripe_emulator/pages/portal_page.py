"""The billing portal page at a portal session's `url`: the customer's
subscriptions, with a switch to another catalogue price, cancel at period
end, resume, and a new card. Each change goes through `portal_changes`,
the code path of POST /v1/subscriptions/{id}, so the same
`customer.subscription.updated` webhooks follow."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stripe_emulator import billing, portal_changes
from stripe_emulator.errors import StripeError
from stripe_emulator.jsontypes import JSON
from stripe_emulator.pages import wording
from stripe_emulator.pages.cards import read_card
from stripe_emulator.pages.forms import form_fields, see_other
from stripe_emulator.pages.html import Html, fill, join, page, safe_url
from stripe_emulator.state import EmulatorState

PATH = "/billing_portal/session/{id}"
ACTIONS = ("switch", "cancel", "resume", "card")

_SUBSCRIPTION = """
<section class="subscription" id="$id">
<h2>Current plan: <span class="plan">$plan</span></h2>
<p>$price &middot; <span class="status">$status</span> &middot; $renewal</p>
<p>Card: <span class="card">$card</span></p>
$cancel_or_resume
$switch
<form method="post" action="$action/card">
<input type="hidden" name="subscription" value="$id">
<label for="card_number">New card number</label>
<input id="card_number" name="card_number" inputmode="numeric" placeholder="4242 4242 4242 4242">
<button id="update_card" type="submit">Update card</button>
</form>
</section>
"""
_CANCEL = """<form method="post" action="$action/cancel">
<input type="hidden" name="subscription" value="$id">
<button id="cancel_plan" type="submit">Cancel plan</button>
</form>"""
_RESUME = """<form method="post" action="$action/resume">
<input type="hidden" name="subscription" value="$id">
<button id="resume_plan" type="submit">Don't cancel</button>
</form>"""
_SWITCH = """<form method="post" action="$action/switch">
<input type="hidden" name="subscription" value="$id">
<label for="price">Switch to</label>
<select id="price" name="price">$options</select>
<button id="switch_plan" type="submit">Switch plan</button>
</form>"""
_OPTION = '<option value="$value">$label</option>'
_ERROR = '<p class="error" id="error" role="alert">$message</p>'
_NOTE = '<p id="none">$message</p>'
_FOOTER = """$back
<p class="note"><a href="/clock">Move the emulator's time forward</a>
to see renewals and scheduled cancellations happen.</p>"""
_BACK = '<p><a id="return" href="$url">Return to the app</a></p>'


def portal_routes(state: EmulatorState) -> list[Route]:
    async def show(request: Request) -> Response:
        with state.store.lock:
            session = state.store.get("billing_portal.session", request.path_params["id"])
            return _page(state, session) if session else _missing()

    async def act(request: Request) -> Response:
        fields = await form_fields(request)
        with state.store.lock:
            return _act(state, request.path_params["id"], request.path_params["action"], fields)

    return [
        Route(PATH, show, methods=["GET"]),
        Route(PATH + "/{action}", act, methods=["POST"]),
    ]


def _act(state: EmulatorState, session_id: str, action: str, fields: dict[str, str]) -> Response:
    session = state.store.get("billing_portal.session", session_id)
    if session is None or action not in ACTIONS:
        return _missing()
    sub = state.store.get("subscription", fields.get("subscription", ""))
    # Only the session's own customer's subscriptions: ids in a form are typed by anyone.
    if sub is None or sub["customer"] != session["customer"]:
        return _page(state, session, error="No such subscription for this customer.", status=404)
    changes: JSON
    if action == "cancel":
        changes = {"cancel_at_period_end": True}
    elif action == "resume":
        changes = {"cancel_at_period_end": False}
    elif action == "switch":
        chosen = fields.get("price", "")
        if chosen not in {p["id"] for p in _other_prices(state, sub)}:
            return _page(state, session, error="Choose one of the plans offered.", status=400)
        changes = {"price": chosen}
    else:
        card = read_card(fields.get("card_number", ""))
        if card.payment_method is None:
            return _page(state, session, error=card.decline or "", status=402)
        changes = {"default_payment_method": card.payment_method}
    try:
        portal_changes.update_subscription(state, sub["id"], changes)
    except StripeError as error:
        return _page(state, session, error=error.message, status=error.status)
    return see_other(f"/billing_portal/session/{session['id']}")


def _page(state: EmulatorState, session: JSON, *, error: str = "", status: int = 200) -> Response:
    subs = [
        s
        for s in state.store.newest_first("subscription")
        if s["customer"] == session["customer"] and s["status"] in billing.LIVE_STATUSES
    ]
    action = f"/billing_portal/session/{session['id']}"
    sections = [_subscription(state, sub, action) for sub in subs] or [
        fill(_NOTE, message="No current subscription.")
    ]
    back = safe_url(session["return_url"])
    body = join(
        [
            fill(_ERROR, message=error) if error else Html(""),
            *sections,
            fill(_FOOTER, back=fill(_BACK, url=back) if back else Html("")),
        ]
    )
    return page("Your subscription", body, status)


def _subscription(state: EmulatorState, sub: JSON, action: str) -> Html:
    price_obj = sub["items"]["data"][0]["price"]
    current = state.store.get("price", price_obj["id"]) or price_obj
    period_end = billing.current_period(sub)[1]
    if sub["cancel_at"]:
        renewal = f"Cancels on {wording.moment(sub['cancel_at'])}"
    else:
        renewal = f"Renews on {wording.moment(period_end)}"
    scheduled = sub["cancel_at_period_end"] or sub["cancel_at"]
    others = _other_prices(state, sub)
    options = join(
        [
            fill(
                _OPTION,
                value=p["id"],
                label=f"{wording.product_name(state.store, p)} ({wording.price(p)})",
            )
            for p in others
        ]
    )
    return fill(
        _SUBSCRIPTION,
        id=sub["id"],
        plan=wording.product_name(state.store, current),
        price=wording.price(current),
        status=sub["status"],
        renewal=renewal,
        card=sub["default_payment_method"] or "none on file",
        cancel_or_resume=fill(_RESUME if scheduled else _CANCEL, action=action, id=sub["id"]),
        switch=fill(_SWITCH, action=action, id=sub["id"], options=options) if others else Html(""),
        action=action,
    )


def _other_prices(state: EmulatorState, sub: JSON) -> list[JSON]:
    """The catalogue's other active recurring prices in the subscription's currency."""
    current = sub["items"]["data"][0]["price"]["id"]
    return [
        p
        for p in reversed(state.store.newest_first("price"))
        if p["active"]
        and p["recurring"] is not None
        and p["currency"] == sub["currency"]
        and p["id"] != current
    ]


def _missing() -> Response:
    return page("No such portal session", fill(_NOTE, message="This link does not exist."), 404)
