"""The `checkout.session` object."""

from __future__ import annotations

from stripe_emulator.jsontypes import JSON


def checkout_session(
    session_id: str,
    created: int,
    *,
    mode: str,
    url: str,
    expires_at: int,
    customer_id: str | None,
    customer_email: str | None,
    currency: str | None,
    amount_total: int | None,
    success_url: str | None,
    cancel_url: str | None,
    client_reference_id: str | None,
    allow_promotion_codes: bool | None,
    ui_mode: str,
    locale: str | None,
    metadata: dict[str, str],
) -> JSON:
    return {
        "id": session_id,
        "object": "checkout.session",
        "after_expiration": None,
        "allow_promotion_codes": allow_promotion_codes,
        "amount_subtotal": amount_total,
        "amount_total": amount_total,
        "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
        "billing_address_collection": None,
        "cancel_url": cancel_url,
        "client_reference_id": client_reference_id,
        "client_secret": None,
        "created": created,
        "currency": currency,
        "custom_fields": [],
        "customer": customer_id,
        "customer_creation": None if customer_id else "always",
        "customer_details": None,
        "customer_email": customer_email,
        "discounts": [],
        "expires_at": expires_at,
        "invoice": None,
        "livemode": False,
        "locale": locale,
        "metadata": metadata,
        "mode": mode,
        "payment_intent": None,
        "payment_link": None,
        "payment_method_collection": "always" if mode == "subscription" else None,
        "payment_method_types": ["card"],
        "payment_status": "no_payment_required" if mode == "setup" else "unpaid",
        "setup_intent": None,
        "status": "open",
        "submit_type": None,
        "subscription": None,
        "success_url": success_url,
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": ui_mode,
        "url": url if ui_mode == "hosted" else None,
    }


def customer_details(email: str | None, name: str | None) -> JSON:
    return {
        "address": None,
        "email": email,
        "name": name,
        "phone": None,
        "tax_exempt": "none",
        "tax_ids": [],
    }
