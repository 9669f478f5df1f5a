"""One lock per Stripe subscription, held by whoever writes its state.

Every writer of a subscription (the event applier, ConfirmCheckout, plan
changes, reconciliation) takes it first in its transaction, so that the
ordering decision and the write it leads to are one step. On PostgreSQL it
is a transaction-level advisory lock, which exists before the subscription's
row does; on SQLite a writing transaction already holds the whole database.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import func, select
from sqlalchemy.orm import Session

# Advisory locks with two 32-bit keys live apart from the one-key locks that
# scheduled maintenance takes; this first key names the subscriptions.
NAMESPACE = 74_612


def lock(session: Session, subscription_id: str) -> None:
    """Waits for the subscription's lock; released when the transaction ends."""
    if _postgres(session):
        session.execute(select(func.pg_advisory_xact_lock(NAMESPACE, _key(subscription_id))))


def try_lock(session: Session, subscription_id: str) -> bool:
    """Takes the lock if nobody holds it; False when another transaction does."""
    if not _postgres(session):
        return True
    taken = session.scalar(select(func.pg_try_advisory_xact_lock(NAMESPACE, _key(subscription_id))))
    return bool(taken)


def _key(subscription_id: str) -> int:
    # A stable 32-bit key; two subscriptions sharing one only wait on each other.
    digest = hashlib.blake2b(subscription_id.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"
