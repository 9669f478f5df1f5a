"""The `checkout.session` object."""

from __future__ import annotations

from stripe_emulator.jsontypes import JSON

# The ui_mode values of this API version; only a hosted session has a `url`.
UI_MODES = ("elements", "embedded_page", "form", "hosted_page")
HOSTED = "hosted_page"


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
    return_url: str | None,
    locale: str | None,
    metadata: dict[str, str],
) -> JSON:
    return {
        "id": session_id,
        "object": "checkout.session",
        "adaptive_pricing": None,
        "after_expiration": None,
        "allow_promotion_codes": allow_promotion_codes,
        "amount_subtotal": amount_total,
        "amount_total": amount_total,
        "allowed_payment_method_types": None,
        "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
        "billing_address_collection": None,
        "branding_settings": None,
        "cancel_url": cancel_url,
        "client_reference_id": client_reference_id,
        "client_secret": None,
        "collected_information": None,
        "consent": None,
        "consent_collection": None,
        "created": created,
        "currency": currency,
        "currency_conversion": None,
        "custom_fields": [],
        "custom_text": {
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        "customer": customer_id,
        "customer_account": None,
        "customer_creation": None if customer_id else "always",
        "customer_details": None,
        "customer_email": customer_email,
        "discounts": [],
        "excluded_payment_method_types": None,
        "expires_at": expires_at,
        "integration_identifier": None,
        "invoice": None,
        "invoice_creation": None,
        "livemode": False,
        "locale": locale,
        "managed_payments": None,
        "metadata": metadata,
        "mode": mode,
        "name_collection": None,
        "optional_items": None,
        "origin_context": None,
        "payment_intent": None,
        "payment_link": None,
        "payment_method_collection": "always" if mode == "subscription" else None,
        "payment_method_configuration_details": None,
        "payment_method_options": None,
        "payment_method_types": ["card"],
        "payment_status": "no_payment_required" if mode == "setup" else "unpaid",
        "permissions": None,
        "phone_number_collection": {"enabled": False},
        "presentment_details": None,
        "recovered_from": None,
        "redirect_on_completion": "always" if ui_mode == "embedded_page" else None,
        "return_url": return_url,
        "saved_payment_method_options": None,
        "setup_intent": None,
        "shipping_address_collection": None,
        "shipping_cost": None,
        "shipping_options": [],
        "status": "open",
        "submit_type": None,
        "subscription": None,
        "success_url": success_url,
        "tax_id_collection": {"enabled": False, "required": "never"},
        "total_details": {
            "amount_discount": 0,
            "amount_shipping": 0,
            "amount_tax": 0,
            "breakdown": None,
        },
        "ui_mode": ui_mode,
        "url": url if ui_mode == HOSTED else None,
        "wallet_options": None,
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


def line_item(item_id: str, price_obj: JSON, quantity: int, description: str) -> JSON:
    """One `item` of a checkout session's line items (not an invoice's `line_item`)."""
    amount = price_obj["unit_amount"] * quantity
    return {
        "id": item_id,
        "object": "item",
        "adjustable_quantity": None,
        "amount_discount": 0,
        "amount_subtotal": amount,
        "amount_tax": 0,
        "amount_total": amount,
        "currency": price_obj["currency"],
        "description": description,
        "metadata": {},
        "price": price_obj,
        "quantity": quantity,
    }
