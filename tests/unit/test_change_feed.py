"""The change feed behind WatchEntitlements."""

from __future__ import annotations

import threading

import pytest

from billing_server.service_layer.change_feed import ChangeFeed

pytestmark = pytest.mark.unit


def test_a_watcher_resuming_gets_what_it_missed() -> None:
    feed = ChangeFeed(window=10)
    start = feed.start("")
    feed.publish("a", 1)
    feed.publish("b", 1)
    catchup = feed.start(feed.token(start.position))
    assert not catchup.reset
    assert [(c.account_id, c.state_version) for c in catchup.changes] == [("a", 1), ("b", 1)]


def test_a_watcher_too_far_behind_is_told_to_reset() -> None:
    feed = ChangeFeed(window=2)
    position = feed.start("").position
    for n in range(1, 4):
        feed.publish(f"acct{n}", 1)
    assert feed.start(feed.token(position)).reset


def test_a_token_of_another_server_or_garbage_resets() -> None:
    feed = ChangeFeed()
    assert feed.start(ChangeFeed().token(0)).reset
    assert feed.start("nonsense").reset


def test_a_reset_reaches_every_watcher_and_old_tokens() -> None:
    feed = ChangeFeed()
    position = feed.start("").position
    feed.reset()
    _, reset, _ = feed.wait(position, 0.01)
    assert reset
    assert feed.start(feed.token(position)).reset


def test_the_same_change_heard_twice_is_news_once() -> None:
    feed = ChangeFeed()
    position = feed.start("").position
    feed.publish("a", 2)
    feed.publish("a", 2)  # the NOTIFY echo of our own commit
    feed.publish("a", 1)  # older
    changes, _, _ = feed.wait(position, 0.01)
    assert [(c.account_id, c.state_version) for c in changes] == [("a", 2)]


def test_wait_wakes_on_a_change() -> None:
    feed = ChangeFeed()
    position = feed.start("").position
    threading.Timer(0.05, feed.publish, args=("a", 1)).start()
    changes, _, _ = feed.wait(position, 5)
    assert [c.account_id for c in changes] == ["a"]
