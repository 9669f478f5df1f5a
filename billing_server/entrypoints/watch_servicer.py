"""WatchEntitlements: change notices for callers' caches, as a server stream."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator

import grpc

from billing.v1 import billing_pb2
from billing_server.domain.errors import InvalidArgument, ResourceExhausted
from billing_server.entrypoints.caller import current_caller
from billing_server.service_layer import validation
from billing_server.service_layer.change_feed import Change, ChangeFeed, matching

HEARTBEAT_S = 15.0
RETRY_AFTER_S = 5.0
MAX_WATCHED_ACCOUNTS = 10_000


class Watchers:
    """Streams each hold a worker thread: their number is capped, in all and
    per calling service, so that one caller cannot take every slot."""

    def __init__(
        self,
        feed: ChangeFeed,
        limit: int,
        heartbeat_s: float = HEARTBEAT_S,
        *,
        per_caller: int | None = None,
    ) -> None:
        self.feed = feed
        self.limit = limit
        self.per_caller = limit if per_caller is None else min(per_caller, limit)
        self._lock = threading.Lock()
        self._held: Counter[str] = Counter()
        self._heartbeat_s = heartbeat_s

    def stream(
        self, request: billing_pb2.WatchEntitlementsRequest, context: grpc.ServicerContext
    ) -> Iterator[billing_pb2.WatchEntitlementsResponse]:
        accounts = frozenset(validation.account_id(a) for a in request.account_ids)
        if len(accounts) > MAX_WATCHED_ACCOUNTS:
            raise InvalidArgument(
                f"watch at most {MAX_WATCHED_ACCOUNTS} accounts, or all", field="account_ids"
            )
        give_back = self._take_slot(current_caller())
        # Given back as soon as the call ends: a stream whose caller went
        # away would otherwise hold its slot until its next heartbeat, and a
        # reconnecting client would count twice.
        context.add_callback(give_back)
        try:
            yield from self._notices(accounts, request.resume_token, context)
        finally:
            give_back()

    def _take_slot(self, caller: str) -> Callable[[], None]:
        """The slot's release, which may be called more than once."""
        with self._lock:
            if self._held.total() >= self.limit:
                raise ResourceExhausted(
                    "too many watchers on this server; retry later",
                    retry_after_s=RETRY_AFTER_S,
                )
            if self._held[caller] >= self.per_caller:
                raise ResourceExhausted(
                    f"{caller} already holds {self.per_caller} watch streams on this server; "
                    "share one per process",
                    retry_after_s=RETRY_AFTER_S,
                    reason="WATCHERS_PER_CALLER",
                )
            self._held[caller] += 1
        given_back = threading.Event()

        def give_back() -> None:
            with self._lock:
                if given_back.is_set():
                    return
                given_back.set()
                self._held[caller] -= 1
                if not self._held[caller]:
                    del self._held[caller]

        return give_back

    def _notices(
        self, accounts: frozenset[str], resume_token: str, context: grpc.ServicerContext
    ) -> Iterator[billing_pb2.WatchEntitlementsResponse]:
        feed = self.feed
        start = feed.start(resume_token)
        position = start.position
        yield _heartbeat(feed.token(position))
        if start.reset:
            yield _reset(feed.token(position))
        yield from _changes(feed, matching(start.changes, accounts))
        while context.is_active() and not feed.closed:
            changes, reset, now = feed.wait(position, self._heartbeat_s)
            if reset:
                yield _reset(feed.token(now))
            elif changes:
                yield from _changes(feed, matching(changes, accounts))
            elif now == position:
                yield _heartbeat(feed.token(position))
            position = now


def _changes(
    feed: ChangeFeed, changes: list[Change]
) -> Iterator[billing_pb2.WatchEntitlementsResponse]:
    for change in changes:
        yield billing_pb2.WatchEntitlementsResponse(
            change=billing_pb2.EntitlementChange(
                account_id=change.account_id, state_version=change.state_version
            ),
            resume_token=feed.token(change.seq),
        )


def _heartbeat(token: str) -> billing_pb2.WatchEntitlementsResponse:
    return billing_pb2.WatchEntitlementsResponse(
        heartbeat=billing_pb2.Heartbeat(), resume_token=token
    )


def _reset(token: str) -> billing_pb2.WatchEntitlementsResponse:
    return billing_pb2.WatchEntitlementsResponse(reset=billing_pb2.CacheReset(), resume_token=token)
