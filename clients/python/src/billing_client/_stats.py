"""The counters of a plan cache and of the entitlement watch feeding it."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class CacheStats:
    """Counters of a cache, read at any time (``snapshot()`` copies them).

    ``rpcs`` counts CheckPlan calls made on a miss; ``shared`` the callers that
    waited for another caller's call instead of making their own; the
    ``fallback_*`` counters the answers given by a failure policy while the
    billing service was unreachable.
    """

    hits: int = 0
    misses: int = 0
    rpcs: int = 0
    shared: int = 0
    evictions: int = 0
    invalidations: int = 0
    fallback_stale: int = 0
    fallback_fail_open: int = 0
    fallback_fail_closed: int = 0
    notices: int = 0
    resets: int = 0
    reconnects: int = 0

    def snapshot(self) -> dict[str, int]:
        return asdict(self)

    @property
    def fallbacks(self) -> dict[str, int]:
        """Fallbacks by policy: "stale", "fail_open", "fail_closed"."""
        return {
            "stale": self.fallback_stale,
            "fail_open": self.fallback_fail_open,
            "fail_closed": self.fallback_fail_closed,
        }
