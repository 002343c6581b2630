"""Cancel, retry and finalize racing each other, against the real engine and MariaDB.

A browser run once ended a cancelled-then-retried task at status 3, 100 %, with
"共 100 项 · 成功 80": one chunk's 20 items were counted nowhere. Two moves made that
possible: a finalizer that read the counts in one transaction and wrote the final status in
another (a retry could come in between), and a chunk claimed after its task had ended,
completed with no detail rows, which a retry (re-running failed and cancelled rows) then
never re-ran. Each test holds one of those moments open.
"""
from __future__ import annotations

from typing import Any, Callable

import pytest

from chalicelib.adapters import chunk_repo
from chalicelib.domain.chunk import ChunkState, Outcome
from chalicelib.domain.task import TaskStatus
from chalicelib.service import engine as engine_module
from chalicelib.service.finalize import finalize_task
from tests.factories import raw_row
from tests.integration.engine_helpers import (chunks, create_copy, details, drain, receive,
                                              seed_shops, services_with)

pytestmark = pytest.mark.faults


class BetweenTransactions:
    """The real Database, running `hook` once right after its first transaction commits:
    the moment between a finalizer's read of the counts and its final write."""

    def __init__(self, db: Any, hook: Callable[[], None]):
        self._db, self._hook = db, hook

    def run(self, fn: Callable[[Any], Any]) -> Any:
        result = self._db.run(fn)
        hook, self._hook = self._hook, None
        if hook is not None:
            hook()
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


def assert_every_item_counted_once(task_id: int, total: int) -> None:
    rows = details(task_id)
    assert [d["seq"] for d in rows] == list(range(total)), "an item has no outcome or two"
    row = raw_row(task_id)
    by = {o: sum(1 for d in rows if d["outcome"] == o) for o in Outcome}
    assert (row.succeeded_items, row.failed_items, row.cancelled_items) == (
        by[Outcome.SUCCEEDED], by[Outcome.FAILED], by[Outcome.CANCELLED])
    assert row.done_items == row.total_items == total


def test_a_finalizer_that_read_before_a_retry_does_not_end_the_retried_task(
        db_clean, monkeypatch):
    shops = seed_shops(10)
    svc = services_with(chunk_size=5)
    task = create_copy(svc, shops, shops["product_ids"])
    svc.control.cancel("s001", task_ids=[task.id])
    # The worker that completes the last chunk stops before it finalizes (killed, timed
    # out): the task stays running with every chunk done, for the sweeper to finalize.
    with monkeypatch.context() as m:
        m.setattr(engine_module, "finalize_task", lambda *args: False)
        drain(svc)
    assert raw_row(task.id).status == TaskStatus.RUNNING
    assert all(c["state"] == ChunkState.DONE for c in chunks(task.id))

    def meanwhile() -> None:
        # a second finalizer (the worker's retry, another sweeper) ends it 5, all cancelled,
        # and the user retries at once: the task is submitted again, its chunks reopened
        assert finalize_task(svc.db, svc.files, task.id)
        assert raw_row(task.id).status == TaskStatus.FAILED
        svc.control.retry("s001", task.id)
        assert raw_row(task.id).status == TaskStatus.SUBMITTED
    # The sweeper read "running, every chunk done, 0 ok / 10 cancelled" before all that.
    stale = finalize_task(BetweenTransactions(svc.db, meanwhile), svc.files, task.id)
    assert stale is False, "a finalizer ended the task from counts of its previous run"
    assert raw_row(task.id).status == TaskStatus.SUBMITTED

    drain(svc)
    row = raw_row(task.id)
    assert row.status == TaskStatus.FINISHED and row.succeeded_items == 10, row
    assert_every_item_counted_once(task.id, 10)


def test_a_chunk_claimed_after_its_task_ended_leaves_its_items_retryable(db_clean):
    shops = seed_shops(10)
    svc = services_with(chunk_size=5, chunk_window=1, chain_chunks=False)
    task = create_copy(svc, shops, shops["product_ids"])
    for m in receive(svc, 1):                       # chunk 0 runs: 5 items succeed
        svc.messages.handle(m["Body"], lambda: 10 ** 9)
        svc.queue.sqs.delete_message(QueueUrl=svc.queue.url, ReceiptHandle=m["ReceiptHandle"])
    assert raw_row(task.id).succeeded_items == 5
    # The business system ends the task (the seed's finish) while chunk 1 is queued.
    svc.tasks.finish("s001", task.id, status=TaskStatus.PARTIAL, reason="stopped upstream")
    drain(svc)                                      # chunk 1's message: its task has ended
    assert raw_row(task.id).status == TaskStatus.PARTIAL
    assert_every_item_counted_once(task.id, 10)     # chunk 1's 5 items: cancelled, not lost

    svc.control.retry("s001", task.id)
    drain(svc)
    row = raw_row(task.id)
    assert row.status == TaskStatus.FINISHED and row.succeeded_items == 10, row
    assert_every_item_counted_once(task.id, 10)


def test_retry_reopens_a_done_chunk_with_items_that_have_no_outcome(db_clean):
    """A chunk completed with no detail rows (as claims of ended tasks did before the fix,
    rows written by such a worker stay in tables) is re-run by a retry like failed items."""
    shops = seed_shops(10)
    svc = services_with(chunk_size=5, chunk_window=1, chain_chunks=False)
    task = create_copy(svc, shops, shops["product_ids"])
    for m in receive(svc, 1):
        svc.messages.handle(m["Body"], lambda: 10 ** 9)
        svc.queue.sqs.delete_message(QueueUrl=svc.queue.url, ReceiptHandle=m["ReceiptHandle"])

    def complete_chunk_1_without_work(cur: Any) -> None:
        assert chunk_repo.claim(cur, task.id, 1, "old-worker", 60) is not None
        assert chunk_repo.complete(cur, task.id, 1, "old-worker")
    svc.db.run(complete_chunk_1_without_work)
    svc.tasks.finish("s001", task.id, status=TaskStatus.PARTIAL, reason="stopped upstream")
    assert len(details(task.id)) == 5

    svc.control.retry("s001", task.id)
    drain(svc)
    row = raw_row(task.id)
    assert row.status == TaskStatus.FINISHED and row.succeeded_items == 10, row
    assert_every_item_counted_once(task.id, 10)
