"""What the database itself enforces, which the in-memory fakes enforce too:
its constraints, and UTC-aware datetimes (adapters/orm.py's UTCDateTime)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NoReturn, overload

from sqlalchemy.exc import IntegrityError


def violated(constraint: str) -> NoReturn:
    """Fails as the database does when a write breaks one of its constraints."""
    raise IntegrityError(f"write breaking {constraint}", None, Exception(constraint))


@overload
def utc(moment: datetime) -> datetime: ...
@overload
def utc(moment: None) -> None: ...
def utc(moment: datetime | None) -> datetime | None:
    """A datetime as a UTCDateTime column hands it back; naive ones are refused."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return moment.astimezone(UTC)
