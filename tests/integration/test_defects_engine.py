"""Engine defects of #13: a failed outcome flush must not leave the chunk's item threads
running (in Lambda they would resume in the next invocation, keep calling the product
center, and their outcomes would be thrown away)."""
from __future__ import annotations

import json
import threading

import pytest

from chalicelib.errors import DatabaseUnavailable
from tests.integration.engine_helpers import (create_copy, queue_bodies, receive, seed_shops,
                                              services_with)


def _delete(svc, message) -> None:
    svc.queue.sqs.delete_message(QueueUrl=svc.queue.url, ReceiptHandle=message["ReceiptHandle"])


def pool_is_idle(pool, threads: int, timeout_s: float = 10.0) -> bool:
    """True once every pool thread is free: `threads` jobs meet at a barrier only then."""
    barrier = threading.Barrier(threads + 1)
    for _ in range(threads):
        pool.submit(barrier.wait, timeout_s)
    try:
        barrier.wait(timeout_s)
        return True
    except threading.BrokenBarrierError:
        return False


def test_failed_flush_stops_the_item_threads(db_clean, product_center, database_url, proxy):
    total, threads = 300, 3
    product_center.configure(latency_ms=20)
    shops = seed_shops(total)
    svc = services_with(database_url=proxy.url_for(database_url), chunk_size=total,
                        chunk_threads=threads, outcome_batch_size=10, outcome_flush_ms=60_000,
                        db_retry_s=0.5, chain_chunks=False)
    create_copy(svc, shops, shops["product_ids"])
    [message] = receive(svc)
    proxy.go_down_after_commit_of(b"INSERT INTO tbl_task_detail")    # after the first flush
    try:
        with pytest.raises(DatabaseUnavailable):      # the DB is gone: the handler fails
            svc.messages.handle(message["Body"], lambda: 10 ** 9)
    finally:
        went_down = proxy.down
        proxy.come_back()
        _delete(svc, message)
    assert went_down
    # When the handler has returned, no item thread is left calling the product center.
    assert product_center.stats()["in_flight"] == 0
    calls = product_center.stats()["requests"]
    assert pool_is_idle(svc.engine._pool, threads, timeout_s=1.0), "item threads still running"
    assert product_center.stats()["requests"] == calls
    assert calls < total, "the item threads ran the whole chunk after the flush failed"


# -- item 3: a dead letter ends its chunk once; a retry is not undone by the next sweep ------
def _empty(queue) -> None:
    while batch := queue.receive(10, visibility_s=0):
        for m in batch:
            queue.delete(m.receipt)


def test_sweep_after_retry_does_not_fail_the_reopened_chunk(db_clean, product_center):
    from chalicelib.domain.task import TaskStatus
    from chalicelib.service.dead_letters import DEAD_LETTER_REASON
    from chalicelib.service.engine import chunk_message
    from tests.factories import raw_row
    from tests.integration.engine_helpers import details, drain, queue_bodies
    svc = services_with(chunk_size=4, chunk_window=1)
    dlq = svc.dead_letters.dlq
    _empty(dlq)
    shops = seed_shops(4)
    task = create_copy(svc, shops, shops["product_ids"])
    queue_bodies(svc)                                   # its message "dies" ...
    dlq.send_raw(json.dumps(chunk_message(task.id, 0)))  # ... and lands in the DLQ
    try:
        assert svc.sweeper.sweep().dead_letters == 1
        assert raw_row(task.id).status == TaskStatus.FAILED
        retried = svc.control.retry("s001", task.id)   # the station user retries
        assert retried.status == TaskStatus.SUBMITTED
        svc.sweeper.sweep()                                # the letter is still in the DLQ
        drain(svc)
        row = raw_row(task.id)
        assert [d["reason"] for d in details(task.id) if d["reason"]] == []
        assert row.status == TaskStatus.FINISHED and row.succeeded_items == 4
        assert dlq.waiting() == 1                          # still there for the operator
    finally:
        _empty(dlq)


# -- item 6's class on the worker side: downstream text that is not valid Unicode ----------
def test_a_downstream_reason_with_a_lone_surrogate_is_stored(db_clean):
    import uuid
    from chalicelib.adapters import chunk_repo
    from chalicelib.adapters.chunk_repo import DetailOutcome, Outcome
    from tests.integration.engine_helpers import details
    svc = services_with(chunk_size=4)
    shops = seed_shops(2)
    task = create_copy(svc, shops, shops["product_ids"])
    token = uuid.uuid4().hex
    svc.db.run(lambda cur: chunk_repo.claim(cur, task.id, 0, token, 60))
    outcome = DetailOutcome(0, shops["product_ids"][0], Outcome.FAILED, reason="bad \ud800 name")
    assert svc.db.run(lambda cur: chunk_repo.record_outcomes(cur, task.id, 0, token, 60,
                                                             [outcome]))
    assert details(task.id)[0]["reason"] == "bad ? name"


# -- suspected 1: the deadline margin covers the worst single item ---------------------------
def test_no_item_is_in_flight_when_the_invocation_deadline_comes(db_clean, product_center):
    """Every create times out (the fake holds it): each item takes attempts x timeout plus
    backoffs. With the margin configured below that (500 ms), the engine must still stop
    taking items early enough that the chunk is saved before the Lambda deadline."""
    import time
    product_center.configure(timeout_rate=1.0, timeout_hold_s=5)
    shops = seed_shops(20)
    svc = services_with(chunk_size=20, chunk_threads=1, product_center_timeout_s=0.4,
                        product_center_max_attempts=4, deadline_margin_ms=500,
                        chain_chunks=False)
    create_copy(svc, shops, shops["product_ids"])
    [message] = receive(svc)
    budget_s = 0.8       # what the invocation has left: above the configured 500 ms margin
    deadline = time.monotonic() + budget_s
    outcome = svc.messages.handle(message["Body"],
                                  lambda: max(0, int((deadline - time.monotonic()) * 1000)))
    finished = time.monotonic()
    _delete(svc, message)
    queue_bodies(svc)                   # the re-queued chunk's message
    assert finished <= deadline, f"worked {finished - deadline:.2f}s past the deadline"
    assert product_center.stats()["in_flight"] == 0


# -- suspected 3: downstream idempotency keys are never reused by another task -------------
def test_a_restored_database_reusing_task_ids_does_not_reuse_downstream_keys(
        db_clean, product_center):
    """A database restored from a backup (or a second stage, or a re-created schema) hands
    out task ids again. The downstream must see new keys for the new task, or it answers
    the old task's products and creates nothing."""
    from tests.integration.engine_helpers import drain
    shops = seed_shops(3)
    svc = services_with(chunk_size=10)
    first = create_copy(svc, shops, shops["product_ids"])
    drain(svc)
    assert product_center.stats()["creates"] == 3

    def restore(cur) -> None:          # back to a backup taken before `first` existed
        for table in ("tbl_task_detail", "tbl_task_chunk"):
            cur.execute(f"DELETE FROM {table} WHERE task_id=%s", (first.id,))
        cur.execute("DELETE FROM tbl_async_task WHERE id=%s", (first.id,))
        cur.execute(f"ALTER TABLE tbl_async_task AUTO_INCREMENT = {int(first.id)}")
    svc.db.run(restore)
    second = create_copy(svc, shops, shops["product_ids"])
    assert second.id == first.id, "the restore did not reuse the id"
    drain(svc)
    stats = product_center.stats()
    assert (stats["creates"], stats["replays"]) == (6, 0), stats
