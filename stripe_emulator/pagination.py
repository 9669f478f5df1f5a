"""Cursor pagination of list endpoints, as Stripe pages: newest first."""

from __future__ import annotations

from collections.abc import Callable

from stripe_emulator.errors import StripeError, resource_missing
from stripe_emulator.jsontypes import JSON
from stripe_emulator.objects.lists import list_object
from stripe_emulator.params import Params


def paginate(
    newest_first: list[JSON],
    params: Params,
    url: str,
    keep: Callable[[JSON], bool] = lambda obj: True,
) -> JSON:
    """One page of `newest_first` filtered by `keep`, honouring the cursors.

    Cursors are positioned in the unfiltered list, so a cursor object that
    no longer matches the filter still marks where the next page starts.
    """
    limit = params.integer("limit")
    if limit is None:
        limit = 10
    if not 1 <= limit <= 100:
        raise StripeError(
            f"Invalid limit: must be between 1 and 100 (got {limit})",
            code="parameter_invalid_integer",
            param="limit",
        )
    after, before = params.string("starting_after"), params.string("ending_before")
    if after and before:
        raise StripeError(
            "You may only specify one of these parameters: ending_before, starting_after.",
            param="ending_before",
        )
    if before:
        candidates = [
            o for o in newest_first[: _index(newest_first, before, "ending_before")] if keep(o)
        ]
        page = candidates[-limit:]
        return list_object(page, url, has_more=len(candidates) > limit)
    start = _index(newest_first, after, "starting_after") + 1 if after else 0
    candidates = [o for o in newest_first[start:] if keep(o)]
    return list_object(candidates[:limit], url, has_more=len(candidates) > limit)


def _index(objects: list[JSON], object_id: str, param: str) -> int:
    for index, obj in enumerate(objects):
        if obj["id"] == object_id:
            return index
    kind = objects[0]["object"] if objects else "object"
    raise resource_missing(kind, object_id, param)


def in_range(value: int, bounds: dict[str, int] | None) -> bool:
    """Whether `value` passes a `created[gt|gte|lt|lte]` (or exact) filter."""
    if bounds is None:
        return True
    checks = {
        "eq": value == bounds.get("eq", value),
        "gt": value > bounds.get("gt", value - 1),
        "gte": value >= bounds.get("gte", value),
        "lt": value < bounds.get("lt", value + 1),
        "lte": value <= bounds.get("lte", value),
    }
    return all(checks.values())
