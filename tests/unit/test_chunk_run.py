"""A chunk run's shared state (service/chunk_run.py ChunkRun): items handed out once, outcomes
batched for the recording thread, stop and runner exits wake it."""
from __future__ import annotations

import threading

from chalicelib.domain.chunk import DetailOutcome, Outcome
from chalicelib.service.chunk_run import ChunkRun
from chalicelib.service.processors import WorkItem


def items(n: int):
    return iter([WorkItem(seq=i, item_id=100 + i, payload=None) for i in range(n)])


def ok(seq: int) -> DetailOutcome:
    return DetailOutcome(seq, 100 + seq, Outcome.SUCCEEDED)


def test_a_run_hands_out_each_item_once_and_batches_outcomes():
    run = ChunkRun(items(5), threads=1, batch_size=2)
    taken = []
    while (item := run.take()) is not None:
        taken.append(item.seq)
        run.put(ok(item.seq) if item.seq != 3 else None)     # item 3: downstream away
    run.runner_done()
    batch, running = run.wait_batch(0)
    assert taken == [0, 1, 2, 3, 4] and running == 0
    assert [o.seq for o in batch] == [0, 1, 2, 4]
    assert (run.handled, run.left_pending) == (4, 1)


def test_stop_ends_taking_but_keeps_what_was_put():
    run = ChunkRun(items(5), threads=2, batch_size=10)
    run.put(ok(run.take().seq))
    run.stop()
    assert run.take() is None and run.stopped
    batch, running = run.wait_batch(0)
    assert [o.seq for o in batch] == [0] and running == 2


def test_wait_batch_wakes_on_a_full_batch_and_on_a_runner_exit():
    run = ChunkRun(items(4), threads=2, batch_size=2)
    got: list = []
    waiter = threading.Thread(target=lambda: got.append(run.wait_batch(30)))
    waiter.start()
    run.put(ok(0))
    run.put(ok(1))                  # a full batch: the recording thread wakes at once
    waiter.join(10)
    assert [o.seq for o in got[0][0]] == [0, 1] and got[0][1] == 2
    waiter = threading.Thread(target=lambda: got.append(run.wait_batch(30)))
    waiter.start()
    run.runner_done()               # a runner leaves: wakes too, with what there is
    waiter.join(10)
    assert got[1] == ([], 1)


def test_put_and_take_is_put_then_take():
    run = ChunkRun(items(3), threads=1, batch_size=2)
    item = run.take()
    seen = []
    while item is not None:
        seen.append(item.seq)
        item = run.put_and_take(ok(item.seq) if item.seq != 1 else None)
    assert seen == [0, 1, 2] and (run.handled, run.left_pending) == (2, 1)
    run.stop()
    assert run.put_and_take(None) is None        # a stopped run hands out nothing more
    batch, _ = run.wait_batch(0)
    assert [o.seq for o in batch] == [0, 2]
