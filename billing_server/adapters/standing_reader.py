"""Reads accounts' standings in bulk for the entitlement view: all of them
at start, the ones the change feed names, and the ones changed since a time.

The current subscription is chosen by the domain's own rule
(`current_subscription`), over every subscription row of the account, so
that the view and a single-account read can never disagree on it.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Engine, Integer, Select, cast, func, select

from billing_server.adapters.orm import AccountRow, SubscriptionRow
from billing_server.adapters.standing_table import Encoded, decode, encode, status_code
from billing_server.domain.subscriptions import AccountStanding, current_subscription


class StandingReader:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"

    def count(self) -> int:
        with self._engine.connect() as connection:
            return int(connection.scalar(select(func.count()).select_from(AccountRow)) or 0)

    def each(self, batch_size: int = 10_000) -> Iterator[list[Encoded]]:
        """Every account, encoded for the view, in batches, from one snapshot.

        A million rows go through the driver's own cursor (server-side on
        PostgreSQL): SQLAlchemy's result rows would triple the time."""
        query = self._standings().order_by(AccountRow.account_id)
        sql = str(query.compile(self._engine, compile_kwargs={"literal_binds": True}))
        raw = self._engine.raw_connection()
        try:
            cursor = raw.cursor(name="paymentsvc_view_load") if self._postgres else raw.cursor()
            cursor.execute(sql)
            batch: list[Encoded] = []
            group: list[Any] = []
            while rows := cursor.fetchmany(batch_size):
                for row in rows:
                    if group and row[0] != group[0][0]:
                        batch.append(_current(group))
                        group = []
                    group.append(row)
                yield batch
                batch = []
            if group:
                yield [_current(group)]
            cursor.close()
        finally:
            raw.rollback()
            raw.close()

    def of(self, account_ids: Collection[str]) -> list[Encoded]:
        """The named accounts; one never seen comes back as version 0."""
        wanted = sorted(set(account_ids))
        query = self._standings().where(AccountRow.account_id.in_(wanted))
        with self._engine.connect() as connection:
            rows = connection.execute(query.order_by(AccountRow.account_id)).all()
        found = {
            str(account_id): _current(list(group))
            for account_id, group in itertools.groupby(rows, key=lambda row: row[0])
        }
        return [found.get(a) or encode(AccountStanding.unknown(a)) for a in wanted]

    def changed_since(self, since: datetime) -> dict[str, int]:
        """account -> state version, for the accounts changed at or after `since`."""
        query = select(AccountRow.account_id, AccountRow.state_version).where(
            AccountRow.state_updated_at >= since
        )
        with self._engine.connect() as connection:
            return {str(a): int(v) for a, v in connection.execute(query)}

    def _standings(self) -> Select[*tuple[Any, ...]]:
        micros = self._micros
        return select(
            AccountRow.account_id,
            AccountRow.state_version,
            micros(AccountRow.state_updated_at),
            SubscriptionRow.plan,
            SubscriptionRow.status,
            SubscriptionRow.cancel_at_period_end,
            micros(SubscriptionRow.current_period_start),
            micros(SubscriptionRow.current_period_end),
            micros(SubscriptionRow.past_due_since),
            micros(SubscriptionRow.stripe_created_at),
            micros(SubscriptionRow.cancel_at),
        ).outerjoin(SubscriptionRow, SubscriptionRow.account_id == AccountRow.account_id)

    def _micros(self, column: Any) -> ColumnElement[int]:
        """Microseconds since the epoch, computed by the database: a million
        rows parse several times faster as integers than as timestamps."""
        if self._postgres:
            seconds = func.extract("epoch", column)
            return func.coalesce(cast(seconds * 1_000_000, BigInteger), 0)
        # SQLite keeps 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC, see orm.UTCDateTime).
        whole = cast(func.strftime("%s", column), Integer) * 1_000_000
        fraction = cast(func.substr(column, 21, 6), Integer)
        return func.coalesce(whole + fraction, 0)


def _current(rows: list[Any]) -> Encoded:
    """The account's row, encoded, with its current subscription."""
    account_id, version, updated = str(rows[0][0]), int(rows[0][1]), int(rows[0][2])
    if rows[0][3] is None:  # no subscription (outer join)
        return (account_id, version, updated, "", 0, 0, 0, 0, 0, 0)
    candidates = [
        (account_id, version, updated, str(row[3]), status_code(row[4], bool(row[5])), *row[6:])
        for row in rows
    ]
    if len(candidates) == 1:
        return candidates[0]
    # The domain's rule decides which subscription counts.
    standings = {id(row): decode(row) for row in candidates}
    chosen = current_subscription([s.standing for s in standings.values() if s.standing])
    return next(row for row in candidates if standings[id(row)].standing is chosen)
