"""The in-memory view CheckPlan answers from: every account's standing.

The view is loaded whole at start (`ViewKeeper`), then kept current by the
change feed: a committed change names the account and its new version, the
account is marked outdated until the view holds that version, and the keeper
reads it again. Each entry carries its own version, so a change to one
account never throws away what the view knows of another, and a read that
raced a change can only be kept if it is at least as new.

Once the load is complete, an account the view does not hold has never had
a billing state: it is answered as such, without a database round trip.

When the change feed is lost (the LISTEN connection, or the database), the
view can no longer tell whether it is current. It keeps answering, marked
stale with the moment it was last known current, for up to `stale_max`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from billing_server.adapters.standing_table import Encoded, StandingTable, encode
from billing_server.domain.subscriptions import AccountStanding


@dataclass(frozen=True, slots=True)
class Freshness:
    # None while the change feed is live: the view is current now.
    known_current_at: datetime | None = None

    @property
    def stale(self) -> bool:
        return self.known_current_at is not None


LIVE = Freshness()


class EntitlementView:
    def __init__(self, stale_max: timedelta = timedelta(minutes=5)) -> None:
        self.stale_max = stale_max
        self._table = StandingTable()
        # account -> a committed version the table does not hold yet.
        self._outdated: dict[str, int] = {}
        self._outdated_lock = threading.Lock()
        self._complete = False
        self._lost_at: datetime | None = None
        self._catching_up = False
        # Rung when accounts become outdated, or the feed comes back.
        self.wanted = threading.Event()

    def __len__(self) -> int:
        return len(self._table)

    @property
    def complete(self) -> bool:
        return self._complete

    def held(self, account_id: str) -> AccountStanding | None:
        """The standing the view holds (possibly outdated, see `current`);
        None when it holds none and is not complete yet."""
        standing = self._table.get(account_id)
        if standing is None and self._complete:
            return AccountStanding.unknown(account_id)
        return standing

    def current(self, standing: AccountStanding) -> bool:
        """No newer version of the account is known to be committed."""
        return self._outdated.get(standing.account_id, -1) <= standing.state_version

    def freshness(self) -> Freshness:
        lost_at = self._lost_at
        return LIVE if lost_at is None else Freshness(lost_at)

    # --- keeping it current

    def expect(self, accounts: int) -> None:
        """Sizes the index for a load of about `accounts` accounts."""
        with self._table.lock:
            self._table.reserve(accounts)

    def put(self, standing: AccountStanding) -> None:
        """Keeps a standing read from the database, unless the view holds a
        newer one; an outdated mark goes once the version it names is held."""
        self.put_encoded([encode(standing)])

    def put_encoded(self, rows: Sequence[Encoded]) -> None:
        with self._table.lock:
            self._table.put_all(rows)
        if not self._outdated:
            return
        with self._outdated_lock:
            for account_id, version, *_ in rows:
                if self._outdated.get(account_id, version + 1) <= version:
                    del self._outdated[account_id]

    def changed(self, account_id: str, version: int) -> None:
        """A change was committed: the account is outdated until refreshed."""
        held = self._table.version(account_id)
        if held is not None and held >= version:
            return
        with self._outdated_lock:
            if self._outdated.get(account_id, -1) < version:
                self._outdated[account_id] = version
        self.wanted.set()

    def outdated(self) -> list[str]:
        with self._outdated_lock:
            return list(self._outdated)

    def loaded(self) -> None:
        self._complete = True

    def lost(self, last_known_current: datetime) -> None:
        """The change feed is gone: from now on answers are last-known ones."""
        if self._lost_at is None:
            self._lost_at = last_known_current

    def regained(self) -> None:
        """The feed is back; the keeper catches up before answers are current."""
        if self._lost_at is not None:
            self._catching_up = True
            self.wanted.set()

    @property
    def catch_up_since(self) -> datetime | None:
        """When a catch-up is due: the moment the view was last known current."""
        return self._lost_at if self._catching_up else None

    def caught_up(self, since: datetime) -> None:
        """Every account changed since `since` is marked outdated: current again."""
        if self._lost_at == since:
            self._lost_at = None
            self._catching_up = False
