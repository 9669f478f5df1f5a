"""One lock per Stripe subscription, held by whoever writes its state.

Every writer of a subscription (the event applier, ConfirmCheckout, plan
changes, reconciliation) takes it first in its transaction, so that the
ordering decision and the write it leads to are one step. On PostgreSQL it
is a transaction-level advisory lock, which exists before the subscription's
row does; on SQLite a writing transaction already holds the whole database.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection

from sqlalchemy import text
from sqlalchemy.orm import Session

# Advisory locks with two 32-bit keys live apart from the one-key locks that
# scheduled maintenance takes; this first key names the subscriptions.
NAMESPACE = 74_612


def lock(session: Session, subscription_ids: Collection[str]) -> None:
    """Waits for the subscriptions' locks; released when the transaction ends.
    Taken in one order, so that two writers never wait on each other in a circle."""
    if not subscription_ids or not _postgres(session):
        return
    keys = sorted({_key(s) for s in subscription_ids})
    session.execute(
        text("SELECT count(pg_advisory_xact_lock(:namespace, key)) FROM unnest(:keys) AS key"),
        {"namespace": NAMESPACE, "keys": keys},
    )


def try_lock(session: Session, subscription_ids: Collection[str]) -> set[str]:
    """Takes the locks nobody else holds; returns the subscriptions it took."""
    if not _postgres(session):
        return set(subscription_ids)
    by_key: dict[int, list[str]] = {}
    for subscription_id in subscription_ids:
        by_key.setdefault(_key(subscription_id), []).append(subscription_id)
    if not by_key:
        return set()
    taken = session.execute(
        text(
            "SELECT key FROM unnest(:keys) AS key WHERE pg_try_advisory_xact_lock(:namespace, key)"
        ),
        {"namespace": NAMESPACE, "keys": sorted(by_key)},
    )
    return {s for (key,) in taken for s in by_key[int(key)]}


def _key(subscription_id: str) -> int:
    # A stable 32-bit key; two subscriptions sharing one only wait on each other.
    digest = hashlib.blake2b(subscription_id.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"
