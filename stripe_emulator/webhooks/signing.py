"""The `Stripe-Signature` header, computed as Stripe computes it."""

from __future__ import annotations

import hashlib
import hmac

USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
CONTENT_TYPE = "application/json; charset=utf-8"


def signature_header(payload: bytes, secret: str, timestamp: int) -> str:
    """`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<payload>" keyed by the secret>`."""
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def delivery_headers(payload: bytes, secret: str, timestamp: int) -> dict[str, str]:
    return {
        "Content-Type": CONTENT_TYPE,
        "Stripe-Signature": signature_header(payload, secret, timestamp),
        "User-Agent": USER_AGENT,
    }
