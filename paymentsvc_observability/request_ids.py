"""Request ids: taken from the caller when it sends one, made up otherwise."""

from __future__ import annotations

import contextvars
import re
import uuid

HEADER = "x-request-id"
_ACCEPTABLE = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "paymentsvc_request_id", default=None
)


def current() -> str | None:
    return _current.get()


def adopt(candidate: str | None) -> contextvars.Token[str | None]:
    """Makes the caller's id (or a new one) current; reset with the token."""
    request_id = candidate if candidate and _ACCEPTABLE.fullmatch(candidate) else None
    return _current.set(request_id or uuid.uuid4().hex)


def release(token: contextvars.Token[str | None]) -> None:
    _current.reset(token)
