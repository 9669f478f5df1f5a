"""Stripe webhook signatures, checked with the stripe library."""

from __future__ import annotations

from collections.abc import Sequence

import stripe


class InvalidSignature(Exception):
    """Missing, malformed, expired or not made with any of our secrets."""


def verify(payload: bytes, header: str | None, secrets: Sequence[str], tolerance_s: int) -> None:
    if not header:
        raise InvalidSignature("missing Stripe-Signature header")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidSignature("body is not UTF-8") from None
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(text, header, secret, tolerance_s)
        except stripe.SignatureVerificationError:
            continue
        return
    # One message for every failure: which part failed would help an attacker.
    raise InvalidSignature("signature does not match, or its timestamp is outside the tolerance")
