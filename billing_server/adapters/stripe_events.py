"""Stripe event bodies, read once at the edge: checked, stripped of personal data, typed.

Whatever arrives is hostile until proven otherwise: a body that is not a
well-formed event of reasonable depth, with text the database can store,
is refused before anything is written. Fields are read in the shape of the
API version the `stripe` library pins; an event of any other version is
read for its envelope and its object's id only, and the applier asks
Stripe for the rest.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import stripe

from billing_server.adapters import stripe_objects
from billing_server.domain.errors import InvalidArgument
from billing_server.domain.events import EventKind, InboundEvent, kind_of
from billing_server.domain.subscriptions import SubscriptionSnapshot

PINNED_API_VERSION: str = stripe.api_version
# Stripe's objects nest a dozen levels at most, expanded ones included.
MAX_DEPTH = 32
# Stripe ids are short; the columns that hold them take 255 characters.
_STRIPE_ID = re.compile(r"[A-Za-z0-9_]{1,255}")
_EVENT_TYPE = re.compile(r"[a-z0-9_.]{1,128}")
_API_VERSION = re.compile(r"[A-Za-z0-9._-]{1,64}")
_ACCOUNT_HINT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/+-]{0,127}")
# NUL cannot be stored in PostgreSQL text; a lone surrogate cannot be encoded.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# The service never reads who the customer is: these are not kept.
PERSONAL_FIELDS = frozenset(
    {
        "address",
        "billing_details",
        "collected_information",
        "customer_address",
        "customer_details",
        "customer_email",
        "customer_name",
        "customer_phone",
        "customer_shipping",
        "email",
        "name",
        "phone",
        "shipping",
        "shipping_details",
    }
)


def read_event(body: bytes | str) -> InboundEvent:
    """The event in `body`; InvalidArgument for anything that is not one."""
    data = _decode(body)
    if not isinstance(data, dict) or data.get("object") != "event":
        raise InvalidArgument("payload is not a Stripe event", field="payload")
    event_id, event_type, created = data.get("id"), data.get("type"), data.get("created")
    body_data = data.get("data")
    obj = body_data.get("object") if isinstance(body_data, dict) else None
    api_version = data.get("api_version")
    if (
        not _matches(_STRIPE_ID, event_id)
        or not str(event_id).startswith("evt_")
        or not _matches(_EVENT_TYPE, event_type)
        or not isinstance(created, int)
        or isinstance(created, bool)
        or not isinstance(obj, dict)
        or not _matches(_STRIPE_ID, obj.get("id"))
        or not (api_version is None or _matches(_API_VERSION, api_version))
    ):
        raise InvalidArgument("payload is not a well-formed Stripe event", field="payload")
    try:
        moment = datetime.fromtimestamp(created, UTC)
    except (OverflowError, OSError, ValueError):
        raise InvalidArgument("event `created` is out of range", field="payload") from None
    kept = _without_personal_data(data)
    return _typed(
        event_id=str(event_id),
        event_type=str(event_type),
        created=moment,
        api_version=api_version,
        obj=kept["data"]["object"],
        payload=json.dumps(kept, separators=(",", ":"), ensure_ascii=False),
    )


def read_stored(payload: str) -> InboundEvent:
    """An event this module read and stored before: checked then, so only parsed now."""
    data = json.loads(payload)
    return _typed(
        event_id=data["id"],
        event_type=data["type"],
        created=datetime.fromtimestamp(data["created"], UTC),
        api_version=data.get("api_version"),
        obj=data["data"]["object"],
        payload=payload,
    )


def _typed(
    *,
    event_id: str,
    event_type: str,
    created: datetime,
    api_version: str | None,
    obj: dict[str, Any],
    payload: str,
) -> InboundEvent:
    kind = kind_of(event_type)
    object_id = str(obj["id"])

    def event(
        subject: str | None,
        *,
        customer: str | None = None,
        account: str | None = None,
        state: SubscriptionSnapshot | None = None,
        ignored: bool = False,
    ) -> InboundEvent:
        return InboundEvent(
            id=event_id,
            type=event_type,
            kind=kind,
            created=created,
            api_version=api_version,
            subject_id=subject,
            customer_id=customer,
            account_hint=account,
            state=state,
            ignored=ignored,
            payload=payload,
        )

    if kind is EventKind.OTHER:
        return event(None, ignored=True)
    if api_version != PINNED_API_VERSION:
        # Never read by its shape: the applier fetches the object instead.
        return event(object_id)
    customer = _stripe_id(obj.get("customer"))
    if kind is EventKind.SUBSCRIPTION:
        state = _snapshot(obj)
        return event(object_id, customer=state.customer_id if state else customer, state=state)
    if kind is EventKind.CHECKOUT_COMPLETED:
        subscription = _stripe_id(obj.get("subscription"))
        if obj.get("mode") != "subscription" or subscription is None:
            return event(None, ignored=True)  # a one-off payment: not ours to apply
        return event(subscription, customer=customer, account=_checkout_account(obj))
    # Since API version 2025-03-31 an invoice names its subscription under
    # parent.subscription_details; `invoice.subscription` is gone.
    parent = obj.get("parent")
    details = parent.get("subscription_details") if isinstance(parent, dict) else None
    subscription = _stripe_id(details.get("subscription")) if isinstance(details, dict) else None
    if subscription is None:
        return event(None, ignored=True)  # not a subscription's invoice
    return event(subscription, customer=customer)


def _decode(body: bytes | str) -> Any:
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        data = json.loads(text, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidArgument("payload is not JSON", field="payload") from None
    _check_storable(data)
    return data


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _check_storable(data: Any) -> None:
    """Refuses nesting deeper than MAX_DEPTH and text the database cannot hold."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if _UNSTORABLE.search(value):
                raise InvalidArgument(
                    "payload holds a NUL or an unpaired surrogate", field="payload"
                )
            continue
        if not isinstance(value, dict | list):
            continue
        if depth > MAX_DEPTH:
            raise InvalidArgument(f"payload nests deeper than {MAX_DEPTH} levels", field="payload")
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(key, str) and _UNSTORABLE.search(key):
                raise InvalidArgument(
                    "payload holds a NUL or an unpaired surrogate", field="payload"
                )
            stack.append((item, depth + 1))


def _without_personal_data(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_personal_data(v) for k, v in value.items() if k not in PERSONAL_FIELDS}
    if isinstance(value, list):
        return [_without_personal_data(v) for v in value]
    return value


def _snapshot(obj: Mapping[str, Any]) -> SubscriptionSnapshot | None:
    try:
        snapshot = stripe_objects.subscription_snapshot(obj)
    except (KeyError, TypeError, ValueError, AttributeError):
        # An incomplete payload is no ground to guess: the applier asks Stripe.
        return None
    ids = (snapshot.id, snapshot.customer_id, snapshot.item_id, snapshot.price_id)
    if not all(_matches(_STRIPE_ID, value) for value in ids):
        raise InvalidArgument("payload holds malformed Stripe ids", field="payload")
    return snapshot


def _checkout_account(session: Mapping[str, Any]) -> str | None:
    metadata = session.get("metadata")
    named = session.get("client_reference_id") or (
        metadata.get("account_id") if isinstance(metadata, dict) else None
    )
    return str(named) if _matches(_ACCOUNT_HINT, named) else None


def _stripe_id(value: Any) -> str | None:
    """An expandable field holds either an id or the expanded object."""
    if isinstance(value, dict):
        value = value.get("id")
    return str(value) if _matches(_STRIPE_ID, value) else None


def _matches(pattern: re.Pattern[str], value: Any) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None
