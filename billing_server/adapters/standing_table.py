"""Every account's standing, packed: about 140 bytes an account, not 1.3 kB.

A Python object per account (a dataclass, its datetimes and strings) costs
about ten times what the standing itself holds. Here an account is one slot
across parallel typed arrays: the state version, times as integers, the plan
as an index into the few plan names, and status plus the cancel flag in one
byte. A small open-addressing index maps an account id to its slot; the ids
(UTF-8 bytes) are the only objects kept per account.

Readers take no lock. A writer marks the slot's version as being written
(-1), writes the fields, then writes the new version; a reader that sees
the version change (or the mark) while reading the fields reads again. Only
one writer runs at a time (`lock`).
"""

from __future__ import annotations

import threading
from array import array
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from billing_server.domain.subscriptions import AccountStanding, Standing, SubscriptionStatus

_EMPTY = -1
_WRITING = -1
_CANCEL_AT_PERIOD_END = 0x80
_STATUSES = tuple(SubscriptionStatus)
_STATUS_CODE = {status.value: code for code, status in enumerate(_STATUSES, start=1)}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# One account as the table stores it: account id, state version, updated at,
# plan, status code (0: no subscription) with the cancel flag, period start,
# period end, past due since, created, cancel at. Times in microseconds, 0
# for none.
Encoded = tuple[str, int, int, str, int, int, int, int, int, int]


def encode(state: AccountStanding) -> Encoded:
    standing = state.standing
    updated = micros(state.state_updated_at)
    if standing is None:
        return (state.account_id, state.state_version, updated, "", 0, 0, 0, 0, 0, 0)
    return (
        state.account_id,
        state.state_version,
        updated,
        standing.plan,
        status_code(standing.status.value, standing.cancel_at_period_end),
        micros(standing.current_period_start),
        micros(standing.current_period_end),
        micros(standing.past_due_since),
        micros(standing.created),
        micros(standing.cancel_at),
    )


def status_code(status: str, cancel_at_period_end: bool) -> int:
    return _STATUS_CODE[status] | (_CANCEL_AT_PERIOD_END if cancel_at_period_end else 0)


def decode(row: Encoded) -> AccountStanding:
    account_id, version, updated, plan, status, start, end, past_due, created, cancel_at = row
    if status == 0:
        return AccountStanding(account_id, version, _from_micros(updated), None)
    standing = Standing(
        plan=plan,
        status=_STATUSES[(status & ~_CANCEL_AT_PERIOD_END) - 1],
        current_period_start=_from_micros(start),
        current_period_end=_from_micros(end),
        cancel_at_period_end=bool(status & _CANCEL_AT_PERIOD_END),
        past_due_since=_from_micros(past_due),
        created=_from_micros(created) or _EPOCH,
        cancel_at=_from_micros(cancel_at),
    )
    return AccountStanding(account_id, version, _from_micros(updated), standing)


class StandingTable:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        # Ids as UTF-8 bytes: 16 bytes an account less than str objects.
        self._ids: list[bytes] = []
        self._version = array("q")
        # Times in microseconds since the epoch, 0 for none: exact, so that
        # an answer from the table equals one from the database.
        self._updated_us = array("q")
        self._period_start = array("q")
        self._period_end = array("q")
        self._past_due_since = array("q")
        self._created = array("q")
        self._cancel_at = array("q")
        self._plan = array("B")
        self._status = array("B")
        # Plan index 0 stands for "no subscription".
        self._plans: list[str] = [""]
        self._plan_index: dict[str, int] = {}
        self._index = _new_index(_capacity_for(0))

    def __len__(self) -> int:
        return len(self._ids)

    def version(self, account_id: str) -> int | None:
        slot = self._slot(account_id)
        return None if slot < 0 else self._stable_version(slot)

    def get(self, account_id: str) -> AccountStanding | None:
        slot = self._slot(account_id)
        if slot < 0:
            return None
        while True:
            version = self._version[slot]
            if version == _WRITING:
                continue
            standing = self._read(account_id, slot, version)
            if self._version[slot] == version:
                return standing

    def put(self, state: AccountStanding) -> bool:
        """Keeps `state` unless the table holds its version or a newer one.
        The caller holds `lock`."""
        return self.put_encoded(encode(state))

    def put_encoded(self, row: Encoded) -> bool:
        account_id, version, updated, plan, status, start, end, past_due, created, cancel_at = row
        slot = self._slot(account_id)
        if slot >= 0 and self._version[slot] >= version:
            return False
        if slot < 0:
            slot = self._append(account_id)
        self._version[slot] = _WRITING
        self._updated_us[slot] = updated
        self._plan[slot] = self._plan_code(plan) if status else 0
        self._status[slot] = status
        self._period_start[slot] = start
        self._period_end[slot] = end
        self._past_due_since[slot] = past_due
        self._created[slot] = created
        self._cancel_at[slot] = cancel_at
        self._version[slot] = version
        return True

    def put_all(self, rows: Sequence[Encoded]) -> None:
        """put_encoded() for many rows; quicker for accounts not held yet (a
        load), whose columns are all appended before the index names them,
        so that a reader never finds a half-written slot. Caller holds `lock`."""
        self.reserve(len(self._ids) + len(rows))
        ids, index = self._ids, self._index
        mask = len(index) - 1
        version, updated = self._version.append, self._updated_us.append
        start, end = self._period_start.append, self._period_end.append
        past_due, created = self._past_due_since.append, self._created.append
        cancel_at = self._cancel_at.append
        plan, status = self._plan.append, self._status.append
        plan_code = self._plan_code
        for row in rows:
            account_id = row[0].encode()
            position = hash(account_id) & mask
            while (slot := index[position]) != _EMPTY and ids[slot] != account_id:
                position = (position + 1) & mask
            if slot != _EMPTY:
                self.put_encoded(row)
                continue
            version(row[1])
            updated(row[2])
            plan(plan_code(row[3]) if row[4] else 0)
            status(row[4])
            start(row[5])
            end(row[6])
            past_due(row[7])
            created(row[8])
            cancel_at(row[9])
            slot = len(ids)
            ids.append(account_id)
            index[position] = slot

    def _read(self, account_id: str, slot: int, version: int) -> AccountStanding:
        return decode(
            (
                account_id,
                version,
                self._updated_us[slot],
                self._plans[self._plan[slot]],
                self._status[slot],
                self._period_start[slot],
                self._period_end[slot],
                self._past_due_since[slot],
                self._created[slot],
                self._cancel_at[slot],
            )
        )

    def _stable_version(self, slot: int) -> int:
        while (version := self._version[slot]) == _WRITING:
            pass
        return version

    def _slot(self, account_id: str) -> int:
        key = account_id.encode()
        index = self._index
        mask = len(index) - 1
        position = hash(key) & mask
        while True:
            slot = index[position]
            if slot == _EMPTY or self._ids[slot] == key:
                return slot
            position = (position + 1) & mask

    def _append(self, account_id: str) -> int:
        slot = len(self._ids)
        if (slot + 1) * 2 > len(self._index):
            self._grow()
        key = account_id.encode()
        self._ids.append(key)
        for column in (
            self._version,
            self._updated_us,
            self._period_start,
            self._period_end,
            self._past_due_since,
            self._created,
            self._cancel_at,
        ):
            column.append(0)
        self._plan.append(0)
        self._status.append(0)
        # The version is written last by put(); until then readers must wait.
        self._version[slot] = _WRITING
        _insert(self._index, key, slot)
        return slot

    def reserve(self, accounts: int) -> None:
        """Room for `accounts` accounts without growing again. Caller holds `lock`."""
        if _capacity_for(accounts) > len(self._index):
            self._grow(_capacity_for(accounts))

    def _grow(self, capacity: int | None = None) -> None:
        # Built aside and swapped in whole: readers keep the old index meanwhile.
        index = _new_index(capacity or len(self._index) * 2)
        for slot, key in enumerate(self._ids):
            _insert(index, key, slot)
        self._index = index

    def _plan_code(self, plan: str) -> int:
        code = self._plan_index.get(plan)
        if code is None:
            if len(self._plans) > 255:
                raise ValueError("more than 255 plan names")
            code = len(self._plans)
            self._plans.append(plan)
            self._plan_index[plan] = code
        return code


def _capacity_for(accounts: int) -> int:
    capacity = 1024
    while capacity < accounts * 2 + 2:
        capacity *= 2
    return capacity


def _new_index(capacity: int) -> array[int]:
    return array("i", [_EMPTY]) * capacity


def _insert(index: array[int], key: bytes, slot: int) -> None:
    mask = len(index) - 1
    position = hash(key) & mask
    while index[position] != _EMPTY:
        position = (position + 1) & mask
    index[position] = slot


def micros(value: datetime | None) -> int:
    if value is None:
        return 0
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _from_micros(value: int) -> datetime | None:
    return None if value == 0 else _EPOCH + timedelta(microseconds=value)
