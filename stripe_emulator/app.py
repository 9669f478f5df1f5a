"""The Starlette application: Stripe's /v1 API plus the /_emulator helpers."""

from __future__ import annotations

from starlette.applications import Starlette

from stripe_emulator.control import control_routes
from stripe_emulator.pages import page_routes
from stripe_emulator.pipeline import api_route, unrecognized_route
from stripe_emulator.resources import all_endpoints
from stripe_emulator.state import EmulatorState
from stripe_emulator.webhooks import WebhookSettings


def create_app(
    state: EmulatorState | None = None, *, webhooks: WebhookSettings | None = None
) -> Starlette:
    """Build an emulator app; pass `state` to inspect or share it in-process,
    `webhooks` to deliver every event to a start-up endpoint."""
    state = state or EmulatorState()
    if webhooks is not None:
        state.configure_webhooks(webhooks)
    routes = [api_route(state, endpoint) for endpoint in all_endpoints()]
    routes += control_routes(state)
    routes += page_routes(state)
    # Last, so that known paths called with the wrong method still get
    # Stripe's "Unrecognized request URL" answer rather than a bare 405.
    routes.append(unrecognized_route(state))
    app = Starlette(routes=routes)
    app.state.emulator = state
    return app
