"""/v1/billing_portal/sessions"""

from __future__ import annotations

from stripe_emulator.call import Call, Endpoint
from stripe_emulator.jsontypes import JSON
from stripe_emulator.objects.portal import portal_session
from stripe_emulator.params import STRING, obj
from stripe_emulator.store import new_id

# The emulator has one portal configuration, like a fresh Stripe account.
DEFAULT_CONFIGURATION = "bpc_emulatordefault000000"

CREATE = obj(
    customer=STRING, return_url=STRING, configuration=STRING, locale=STRING, on_behalf_of=STRING
)


def create(call: Call) -> JSON:
    p = call.params
    customer_id = p.require_string("customer")
    call.store.require("customer", customer_id, param="customer")
    session_id = new_id("bps_")
    session = portal_session(
        session_id,
        call.now(),
        customer_id=customer_id,
        configuration=p.string("configuration") or DEFAULT_CONFIGURATION,
        return_url=p.string("return_url"),
        locale=p.string("locale"),
        url=f"{call.base_url}/billing_portal/session/{session_id}",
    )
    return call.store.insert(session)


ENDPOINTS = [Endpoint("POST", "/v1/billing_portal/sessions", CREATE, create)]
