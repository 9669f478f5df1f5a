"""Pages a person clicks through in a browser, as on Stripe's hosted pages:
checkout, the billing portal, and a page that moves time forward. For local
development only, like the rest of the emulator."""

from __future__ import annotations

from starlette.routing import Route

from stripe_emulator.pages.checkout_page import checkout_routes
from stripe_emulator.pages.clock_page import clock_routes
from stripe_emulator.pages.portal_page import portal_routes
from stripe_emulator.state import EmulatorState


def page_routes(state: EmulatorState) -> list[Route]:
    return [*checkout_routes(state), *portal_routes(state), *clock_routes(state)]
