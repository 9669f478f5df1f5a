"""Group commit: many callers' writes in one batch, each answered after its batch."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from billing_server.adapters.group_commit import GroupCommit
from billing_server.domain.errors import Unavailable

pytestmark = pytest.mark.unit


def test_concurrent_items_share_batches_and_each_gets_its_own_result() -> None:
    batches: list[list[int]] = []
    release = threading.Event()

    def run(batch: list[int]) -> list[int]:
        release.wait(5)  # the first batch waits: everything else queues behind it
        batches.append(batch)
        return [n * 10 for n in batch]

    writer: GroupCommit[int, int] = GroupCommit(run)
    with ThreadPoolExecutor(max_workers=20) as pool:
        futures = [pool.submit(writer.submit, n, 10.0) for n in range(20)]
        release.set()
        results = [f.result() for f in futures]
    writer.close()
    assert results == [n * 10 for n in range(20)]
    assert sorted(n for batch in batches for n in batch) == list(range(20))
    assert len(batches) < 20  # they were grouped


def test_a_failing_item_does_not_sink_its_batch() -> None:
    def run(batch: list[int]) -> list[int]:
        if 13 in batch:
            raise ValueError("unlucky")
        return batch

    writer: GroupCommit[int, int] = GroupCommit(run)
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = {n: pool.submit(writer.submit, n, 10.0) for n in range(8, 16)}
    writer.close()
    with pytest.raises(Unavailable):
        futures[13].result()
    assert [futures[n].result() for n in range(8, 16) if n != 13] == [
        n for n in range(8, 16) if n != 13
    ]


def test_an_unavailable_database_fails_the_whole_batch() -> None:
    def run(batch: list[int]) -> list[int]:
        raise Unavailable("database away")

    writer: GroupCommit[int, int] = GroupCommit(run)
    with pytest.raises(Unavailable, match="database away"):
        writer.submit(1, 5.0)
    writer.close()


def test_after_close_nothing_is_taken() -> None:
    writer: GroupCommit[int, int] = GroupCommit(lambda batch: batch)
    assert writer.submit(1, 5.0) == 1
    writer.close()
    with pytest.raises(Unavailable):
        writer.submit(2, 5.0)
