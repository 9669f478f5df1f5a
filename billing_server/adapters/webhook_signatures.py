"""Stripe webhook signatures, checked with the stripe library.

The gateway checks a delivery before forwarding it, and the server checks it
again before storing anything: a service token alone cannot inject an event.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import stripe


class InvalidSignature(Exception):
    """Missing, malformed, outside the tolerance, or made with none of our secrets."""


def verify(
    payload: bytes,
    header: str | None,
    secrets: Sequence[str],
    tolerance_s: int,
    clock: Callable[[], float] = time.time,
) -> None:
    if not header:
        raise InvalidSignature("missing Stripe-Signature header")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidSignature("body is not UTF-8") from None
    # The library refuses a timestamp older than the tolerance; one from the
    # future would stay valid for longer than the tolerance, so it is refused
    # here, by the same margin.
    stamped = _timestamp(header)
    if stamped is None or stamped > clock() + tolerance_s:
        raise _mismatch()
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(text, header, secret, tolerance_s)
        except stripe.SignatureVerificationError:
            continue
        return
    raise _mismatch()


def _timestamp(header: str) -> int | None:
    for item in header.split(","):
        name, _, value = item.partition("=")
        if name.strip() == "t":
            return int(value) if value.strip().isdigit() else None
    return None


def _mismatch() -> InvalidSignature:
    # One message for every failure: which part failed would help an attacker.
    return InvalidSignature("signature does not match, or its timestamp is outside the tolerance")
