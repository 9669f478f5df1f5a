"""What a part's stored events say: outcomes, lost events, retries, lag."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence

from bench._inbox import EventRow
from bench._stats import percentile


def by_outcome(rows: Sequence[EventRow]) -> dict[str, int]:
    """Rows counted by status, and by outcome once processed ("processed/applied")."""
    counts = Counter(f"{r.status}/{r.outcome}" if r.outcome else r.status for r in rows)
    return dict(sorted(counts.items()))


def lost_line(rows: Sequence[EventRow], answered: Collection[str]) -> str:
    """Events answered 200 but not processed, and where they are."""
    status = {r.event_id: r.status for r in rows}
    missing = [e for e in answered if e not in status]
    unfinished = Counter(status[e] for e in answered if status.get(e, "processed") != "processed")
    lost = len(missing) + sum(unfinished.values())
    where = ", ".join([f"no row {len(missing)}", *(f"{s} {n}" for s, n in unfinished.items())])
    return f"lost (answered 200, not processed): {lost} ({where})"


def retries_line(rows: Sequence[EventRow]) -> str:
    """Processed events applied in more than one attempt, and the errors seen."""
    processed = [r for r in rows if r.status == "processed"]
    attempts = Counter(r.attempts for r in processed)
    more = sum(n for a, n in attempts.items() if a != 1)
    line = (
        f"processed events with attempts != 1: {more} (attempts: {dict(sorted(attempts.items()))})"
    )
    errors = Counter((r.last_error or "")[:120] for r in rows if r.last_error)
    if errors:
        line += "; last errors: " + "; ".join(f"{n}x {e}" for e, n in errors.most_common(3))
    return line


def apply_lags(rows: Sequence[EventRow]) -> list[float]:
    """Stored -> applied, in seconds, ascending: processed_at - received_at.
    received_at is when the delivery's transaction stored it, processed_at
    when the transaction that applied it began."""
    return sorted((r.processed_at - r.received_at).total_seconds() for r in rows if r.processed_at)


def lag_line(lags: Sequence[float]) -> str:
    if not lags:
        return "stored -> applied lag: no event processed"
    figures = ", ".join(f"p{p} {percentile(lags, p) * 1e3:,.0f} ms" for p in (50, 90, 99))
    return f"stored -> applied lag over {len(lags)} events: {figures}, max {lags[-1] * 1e3:,.0f} ms"
