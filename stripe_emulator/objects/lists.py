"""Stripe's `list` envelope and the `deleted` stub."""

from __future__ import annotations

from stripe_emulator.jsontypes import JSON


def list_object(data: list[JSON], url: str, has_more: bool = False) -> JSON:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def deleted(object_id: str, kind: str) -> JSON:
    return {"id": object_id, "object": kind, "deleted": True}
