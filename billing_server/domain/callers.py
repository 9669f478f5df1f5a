"""Who calls: a service's name and the scopes its token grants."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Scope(enum.StrEnum):
    READ = "billing.read"
    WRITE = "billing.write"
    INGEST = "billing.ingest"


@dataclass(frozen=True)
class Identity:
    service: str
    scopes: frozenset[Scope]


class InvalidToken(Exception):
    """Missing, malformed, expired, for another audience, or not signed by us."""
