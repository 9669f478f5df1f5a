"""The `billing_portal.session` object."""

from __future__ import annotations

from stripe_emulator.jsontypes import JSON


def portal_session(
    session_id: str,
    created: int,
    *,
    customer_id: str,
    configuration: str,
    return_url: str | None,
    locale: str | None,
    url: str,
) -> JSON:
    return {
        "id": session_id,
        "object": "billing_portal.session",
        "after_expiration": None,
        "configuration": configuration,
        "created": created,
        "customer": customer_id,
        "customer_account": None,
        "flow": None,
        "livemode": False,
        "locale": locale,
        "on_behalf_of": None,
        "return_url": return_url,
        "url": url,
    }
