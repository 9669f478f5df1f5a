"""Who is calling: the name the audit log records."""

from __future__ import annotations

import grpc

CALLER_METADATA_KEY = "x-paymentsvc-caller"
UNKNOWN_CALLER = "unidentified"


def caller_of(context: grpc.ServicerContext) -> str:
    """The calling service as it names itself in `x-paymentsvc-caller`."""
    for key, value in context.invocation_metadata() or ():
        if key == CALLER_METADATA_KEY and isinstance(value, str) and value:
            return value[:128]
    return UNKNOWN_CALLER
