"""Checks on caller input, so that bad requests fail before any I/O."""

from __future__ import annotations

import re

from email_validator import EmailNotValidError, validate_email

from billing_server.domain.errors import InvalidArgument

_ACCOUNT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/+-]{0,127}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
_SESSION_ID = re.compile(r"cs_[A-Za-z0-9_]{1,252}")
_PRINTABLE = re.compile(r"[\x21-\x7e]{1,255}")
MAX_EMAIL = 254  # what SMTP carries, and what Stripe stores


def account_id(value: str) -> str:
    if not value:
        raise InvalidArgument("account_id is required", field="account_id")
    if not _ACCOUNT_ID.fullmatch(value):
        raise InvalidArgument(
            "account_id must be 1-128 characters of letters, digits and ._:@/+-",
            field="account_id",
        )
    return value


def name(value: str, field: str) -> str:
    if not value:
        raise InvalidArgument(f"{field} is required", field=field)
    if not _NAME.fullmatch(value):
        raise InvalidArgument(
            f"{field} must be 1-64 characters of letters, digits and ._:-", field=field
        )
    return value


def idempotency_key(value: str) -> str | None:
    if not value:
        return None
    if not _PRINTABLE.fullmatch(value):
        raise InvalidArgument(
            "idempotency_key must be 1-255 printable ASCII characters without spaces",
            field="idempotency_key",
        )
    return value


def email(value: str | None) -> str | None:
    """An address Stripe can use (syntax only: no DNS lookup on the request
    path), normalised; NUL and other control characters, a domain without
    a dot, or markup are refused."""
    if value is None or value == "":
        return None
    if len(value) > MAX_EMAIL:
        raise InvalidArgument(
            f"customer_email is longer than {MAX_EMAIL} characters", field="customer_email"
        )
    try:
        checked = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidArgument(
            f"customer_email is not a valid email address: {exc}", field="customer_email"
        ) from None
    return str(checked.normalized)


def checkout_session_id(value: str) -> str:
    if not value:
        raise InvalidArgument("session_id is required", field="session_id")
    if not _SESSION_ID.fullmatch(value):
        raise InvalidArgument("session_id is not a Stripe Checkout Session id", field="session_id")
    return value
