"""The sweeper's repairs, one by one, against the real DB and queue."""
from __future__ import annotations

from chalicelib.adapters import chunk_repo
from chalicelib.domain.chunk import DetailOutcome, Outcome
from chalicelib.domain.task import TaskStatus
from chalicelib.service import lifecycle
from tests.factories import raw_row
from tests.integration.engine_helpers import (chunks, create_copy, drain, queue_bodies, seed_shops,
                                              services_with, sweeper)




def test_lost_message_of_a_queued_chunk_is_sent_again(db_clean):
    shops = seed_shops(4)
    svc = services_with(chunk_size=4)
    task = create_copy(svc, shops, shops["product_ids"][:4])
    assert len(queue_bodies(svc)) == 1                      # ... and then the message is lost
    assert sweeper(svc, stale_queued_s=3600).sweep().stale_queued == 0
    report = sweeper(svc, stale_queued_s=0).sweep()
    assert report.stale_queued == 1
    drain(svc)
    assert raw_row(task.id).status == TaskStatus.FINISHED


def test_stalled_task_gets_its_next_chunk_queued(db_clean):
    shops = seed_shops(8)
    svc = services_with(chunk_size=4, chunk_window=1, chain_chunks=False)
    task = create_copy(svc, shops, shops["product_ids"][:8])
    [body] = queue_bodies(svc)
    svc.engine.run_chunk(task.id, body["chunk"], lambda: 10 ** 9)
    # simulate a hand-on lost between the commit and the queue: chunk 1 back to pending
    svc.db.run(lambda cur: cur.execute(
        "UPDATE tbl_task_chunk SET state=0, queued_at=NULL WHERE task_id=%s AND seq=1",
        (task.id,)))
    queue_bodies(svc)
    assert sweeper(svc).sweep().stalled_tasks == 1
    assert [b["chunk"] for b in queue_bodies(svc)] == [1]
    assert sweeper(svc).sweep().stalled_tasks == 0       # now queued: nothing to do


def test_unfinalized_task_is_finalized(db_clean):
    shops = seed_shops(4)
    svc = services_with(chunk_size=4)
    task = create_copy(svc, shops, shops["product_ids"][:4])
    queue_bodies(svc)
    token = "t" * 32
    svc.db.run(lambda cur: chunk_repo.claim(cur, task.id, 0, token, 60))
    from chalicelib.adapters import task_repo
    svc.db.run(lambda cur: lifecycle.start(cur, task_repo.get_any_station(cur, task.id,
                                                                          for_update=True)))
    outcomes = [DetailOutcome(s, shops["product_ids"][s], Outcome.SUCCEEDED, 1)
                for s in range(4)]
    svc.db.run(lambda cur: chunk_repo.record_outcomes(cur, task.id, 0, token, 60, outcomes))
    svc.db.run(lambda cur: task_repo.add_outcomes(cur, task.id, 4, 0))
    svc.db.run(lambda cur: chunk_repo.complete(cur, task.id, 0, token))   # ... worker dies here
    assert raw_row(task.id).status == TaskStatus.RUNNING
    assert sweeper(svc).sweep().finalized == 1
    row = raw_row(task.id)
    assert row.status == TaskStatus.FINISHED and row.result["succeeded"] == 4
    assert [c["state"] for c in chunks(task.id)] == [3]
