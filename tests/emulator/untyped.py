"""Sending parameters the stripe library's typed stubs would refuse."""

from __future__ import annotations

from typing import Any


def untyped(params: dict[str, Any]) -> Any:
    """Params sent on purpose to see the emulator reject them as Stripe would."""
    return params
